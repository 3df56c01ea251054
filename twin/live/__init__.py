"""The live twin: it follows a plant's events over MQTT or OPC UA, keeps the plant state in
step, notices what the model cannot explain, and keeps looking ahead from the current state.

- ``events``: the payload of one event and the MQTT topic namespace (ISA-95 levels);
- ``stream``: the internal event stream (duplicates dropped, each source's order restored);
- ``divergence``: what the model cannot explain, and the sync indicator;
- ``shadow``: the shadow twin (the fold of the plant state, kept current);
- ``lookahead``: rolling forecasts from the current state, their error, re-planning;
- ``session``: what a live session keeps in the run store (status, state, log, forecasts);
- ``mqtt``, ``opcua``: the protocol adapters (paho-mqtt, asyncua); ``broker``: an embedded
  amqtt broker; ``emulator``: a scenario run or a log played as the plant;
- ``rig``: all of it in one process (tests, benchmarks, the demo);
- ``replan``: what a re-plan changes for the orders at risk.

See ``docs/live.md``. The network modules are imported only when used.
"""

from twin.live.divergence import Divergence, DivergenceDetector, SyncIndicator
from twin.live.emulator import Emulator, EmulatorOptions
from twin.live.events import LiveEvent, Namespace, PayloadError, decode_event, encode_event
from twin.live.lookahead import ForecastError, Lookahead
from twin.live.session import LiveSession, list_sessions
from twin.live.shadow import ShadowOptions, ShadowTwin
from twin.live.stream import Sequencer

__all__ = [
    "Divergence",
    "DivergenceDetector",
    "Emulator",
    "EmulatorOptions",
    "ForecastError",
    "LiveEvent",
    "LiveSession",
    "Lookahead",
    "Namespace",
    "PayloadError",
    "Sequencer",
    "ShadowOptions",
    "ShadowTwin",
    "SyncIndicator",
    "decode_event",
    "encode_event",
    "list_sessions",
]
