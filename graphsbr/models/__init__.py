"""Models on one contract (:class:`SessionRecommender`) and their registry, a plain dict: name -> class.

Models of other packages join the registry in one of two ways: :func:`register` in the running process, or an entry
point in the group ``graphsbr.models`` of the package's metadata, which every ``graphsbr`` command (``train``,
``evaluate``, ``search`` and its worker processes, ``torchrun``) finds by itself (:func:`load_plugins`)::

    [project.entry-points."graphsbr.models"]
    meanpool = "mypackage.models:MeanPool"
"""
from __future__ import annotations

import logging
from importlib.metadata import entry_points

from ..errors import ConfigError
from .a2dmtl import A2DMTL
from .asif import ASIF
from .base import SessionRecommender
from .baselines import CORE, DIFSR, NOVA, SRGNN, GRU4Rec, Pop, SASRec, SPop
from .comif import COMIF
from .scorenet import ScoreNet
from .srim import SRIM

#: Every model by name (``graphsbr train --model NAME``).
MODELS: dict[str, type[SessionRecommender]] = {
    cls.name: cls for cls in (Pop, SPop, GRU4Rec, SRGNN, SASRec, CORE, NOVA, DIFSR, A2DMTL, ScoreNet, COMIF, ASIF, SRIM)
}
#: The entry-point group of models from other packages.
PLUGIN_GROUP = "graphsbr.models"

log = logging.getLogger(__name__)
_plugins_loaded = False


def register(cls: type[SessionRecommender]) -> type[SessionRecommender]:
    """Adds ``cls`` to :data:`MODELS` under ``cls.name`` (usable as a class decorator) and returns it.

    Raises:
        ConfigError: ``cls`` is not a :class:`SessionRecommender` subclass, has no ``name``, or its name is taken
            by another class.
    """
    if not (isinstance(cls, type) and issubclass(cls, SessionRecommender)):
        raise ConfigError(f"{cls!r} is not a subclass of graphsbr.models.SessionRecommender")
    if not cls.name:
        raise ConfigError(f"{cls.__qualname__} has no name: set the class attribute name = '...'")
    if MODELS.get(cls.name, cls) is not cls:
        raise ConfigError(f"model name {cls.name!r} of {cls.__module__}.{cls.__qualname__} is taken by "
                          f"{MODELS[cls.name].__module__}.{MODELS[cls.name].__qualname__}")
    MODELS[cls.name] = cls
    return cls


def load_plugins() -> dict[str, type[SessionRecommender]]:
    """Registers the models of the installed packages' ``graphsbr.models`` entry points (once per process) and
    returns :data:`MODELS`. A plugin that fails to import or to register is skipped with a warning naming it."""
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        for point in entry_points(group=PLUGIN_GROUP):
            try:
                cls = point.load()
                if getattr(cls, "name", None) != point.name:
                    raise ConfigError(f"the entry point is named {point.name!r} but the class's name is "
                                      f"{getattr(cls, 'name', None)!r}")
                register(cls)
            except Exception as error:  # a broken plugin must not break the toolkit
                log.warning("model plugin %r (%s) skipped: %s", point.name, point.value, error)
    return MODELS


__all__ = ["MODELS", "PLUGIN_GROUP", "SessionRecommender", "load_plugins", "register"]
