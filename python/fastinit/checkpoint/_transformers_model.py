"""A checkpoint's model built as transformers loads it, with one-line errors.

``from_pretrained(out_dir)`` reads config.json through the config class of its ``model_type``
(which validates its fields: transformers 5 refuses an ``initializer_range`` above 1, or heads
that do not divide ``hidden_size``), then builds the class its ``architectures`` names from that
config: a config the class cannot be built from (an activation transformers does not know, a
``model_type`` edited to another architecture's) never loads, and a ``transformers_weights``
entry makes it read another file than the index. :func:`transformers_model` does the same on
the meta device; every failure is a ValueError that names its cause, and
:class:`TransformersMissing` when transformers or the classes cannot be imported at all.
"""

from __future__ import annotations

from typing import Any, Dict

from ._out_dir import INDEX


class TransformersMissing(ValueError):
    """transformers, or the classes a config needs, cannot be imported here."""


def _why(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0][:200] if text else ''}".rstrip(": ")


def check_weights_entry(config: Dict[str, Any], fn: str) -> None:
    """config.json's ``transformers_weights`` may only name the checkpoint's own index."""
    named = config.get("transformers_weights")
    if named is not None and named != INDEX:
        raise ValueError(f"{fn}: config.json's transformers_weights is {named!r}: "
                         f"from_pretrained would read that instead of {INDEX}")


def _classes(config: Dict[str, Any], arch: str, fn: str, hint: str) -> Any:
    """(model class ``arch``, config class of ``config``'s model_type)."""
    import torch  # noqa: PLC0415

    try:
        import transformers  # noqa: PLC0415

        cls = getattr(transformers, arch, None)
        model_type = config.get("model_type")
        known = isinstance(model_type, str) and model_type in transformers.CONFIG_MAPPING
        config_class = transformers.CONFIG_MAPPING[model_type] if known else None
    except Exception as e:  # noqa: BLE001 - ImportError, or a broken install's anything
        raise TransformersMissing(f"{fn}: transformers cannot be imported ({_why(e)}){hint}") \
            from None
    if not (isinstance(cls, type) and issubclass(cls, torch.nn.Module)):
        raise ValueError(f"{fn}: config.json names no model class transformers has "
                         f"(architectures: {config.get('architectures')}); rebuild the model on "
                         f"the meta device and call fastinit.verify_module(meta_model, out_dir)")
    if config_class is None:
        raise ValueError(f"{fn}: config.json's model_type {config.get('model_type')!r} is not "
                         f"one transformers knows")
    return cls, config_class


def transformers_model(config: Dict[str, Any], arch: str, fn: str, hint: str = "") -> Any:
    """The model class ``arch`` built on meta from ``config`` (a config.json's contents) as
    ``from_pretrained`` builds it. ``hint`` ends the message when transformers is missing."""
    import torch  # noqa: PLC0415

    check_weights_entry(config, fn)
    cls, config_class = _classes(config, arch, fn, hint)
    try:
        cfg = config_class.from_dict(dict(config))
    except Exception as e:  # noqa: BLE001 - transformers' own validation errors
        raise ValueError(f"{fn}: transformers' {config_class.__name__} refuses config.json "
                         f"({_why(e)})") from None
    try:
        with torch.device("meta"):
            return cls(cfg)
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{fn}: transformers cannot build {arch} from config.json "
                         f"({_why(e)})") from None


__all__ = ["TransformersMissing", "check_weights_entry", "transformers_model"]
