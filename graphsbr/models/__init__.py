"""Models on one contract (:class:`SessionRecommender`) and their registry, a plain dict: name -> class."""
from .a2dmtl import A2DMTL
from .asif import ASIF
from .base import SessionRecommender
from .baselines import CORE, DIFSR, NOVA, SRGNN, GRU4Rec, Pop, SASRec
from .comif import COMIF
from .scorenet import ScoreNet
from .srim import SRIM

#: Every model by name (``graphsbr train --model NAME``).
MODELS: dict[str, type[SessionRecommender]] = {
    cls.name: cls for cls in (Pop, GRU4Rec, SRGNN, SASRec, CORE, NOVA, DIFSR, A2DMTL, ScoreNet, COMIF, ASIF, SRIM)
}

__all__ = ["MODELS", "SessionRecommender"]
