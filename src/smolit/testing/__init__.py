"""Public test doubles: a scripted fake model, a lookup-table encoder, a manual clock.

They exist for fast, deterministic tests; every behaviour they stand in for is also
tested against the real part (the bundled SmolLM2 and all-MiniLM-L6-v2).
"""

from smolit.testing.clock import ManualClock, ManualDateClock
from smolit.testing.fake_model import FakeModel, FakeModelBackend
from smolit.testing.lookup_encoder import LookupEncoder

__all__ = ["FakeModel", "FakeModelBackend", "LookupEncoder", "ManualClock", "ManualDateClock"]
