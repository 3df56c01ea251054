"""OPC UA end to end (127.0.0.1, free ports): the emulator serves the plant's information
model and event stream, the live twin follows the PlantEventType events to exactly the
plant's state, a SCADA-style client following only the units' state variables keeps every
unit's state, and the model has the documented shape."""

from __future__ import annotations

import asyncio

import pytest

from twin.live.events import PACKML_CODES
from twin.live.opcua import EVENT_FIELDS, UNIT_VARIABLES
from twin.live.rig import LiveRig, unit_states_at
from twin.scenario import load
from twin.simulate import simulate
from twin.state import state_from_events


@pytest.fixture(scope="module")
def osd():
    sc = load("scenarios/osd_plant.yaml")
    sim = sc.simulation.model_copy(update={"horizon": 30.0})
    return sc, simulate(sc.model_copy(update={"simulation": sim}), seed=3).events


def test_the_event_stream_brings_the_twin_to_the_plants_state(osd):
    sc, table = osd
    with LiveRig(sc, table, speed=30 * 3600 / 2, mqtt=False, opcua=True) as rig:
        assert rig.wait(40), rig.twin.status()["counts"]
        with rig.twin.lock:
            state = rig.twin.builder.state()
            counts = dict(rig.twin.status()["counts"])
        endpoint = rig.opcua_server.endpoint
        browsed = asyncio.run(_browse(endpoint, sc))
    ref = state_from_events(sc, table)
    assert counts["applied"] == table.num_rows and counts["lost"] == 0 and counts["bad"] == 0
    assert {n: u.state for n, u in state.units.items()} == {
        n: u.state for n, u in ref.units.items()
    }
    assert set(state.batches) == set(ref.batches)
    # the information model: every unit an object with the documented variables
    assert set(browsed["units"]) == {n for n, _ in sc.unit_names()}
    names = {v for v, _, _ in UNIT_VARIABLES}
    assert all(set(vs) == names for vs in browsed["units"].values())
    final = unit_states_at(table, [table.column("t")[-1].as_py()])[0]
    for unit, values in browsed["units"].items():
        assert values["TwinState"] == final.get(unit, "idle")
        assert values["StateCode"] == PACKML_CODES[values["State"]]
        assert values["Alarm"] is (values["TwinState"] == "down")
    assert {"SourceId", "LastSeq", "PlantTime", "Speed", "RunState", "Replay"} <= browsed["plant"]
    assert browsed["event_fields"] >= {f for f, _ in EVENT_FIELDS}


async def _browse(endpoint: str, sc) -> dict:
    from asyncua import Client

    async with Client(endpoint, timeout=10) as client:
        idx = await client.get_namespace_index(f"urn:pharmatwin:{sc.name}")
        plant = await client.nodes.objects.get_child(f"{idx}:{sc.name}")
        units: dict[str, dict] = {}
        plant_children = set()
        for child in await plant.get_children():
            name = (await child.read_browse_name()).Name
            plant_children.add(name)
            for unit in await child.get_children():
                uname = (await unit.read_browse_name()).Name
                values = {}
                for var in await unit.get_children():
                    values[(await var.read_browse_name()).Name] = await var.read_value()
                if values:
                    units[uname] = values
        etype = await client.nodes.base_event_type.get_child(f"{idx}:PlantEventType")
        fields = {(await p.read_browse_name()).Name for p in await etype.get_properties()}
    return {"units": units, "plant": plant_children, "event_fields": fields}


def test_a_scada_client_following_unit_variables_keeps_every_units_state():
    sc = load("scenarios/osd_plant.yaml")
    sim = sc.simulation.model_copy(update={"horizon": 230.0})
    table = simulate(sc.model_copy(update={"simulation": sim}), seed=3).events
    # 200 h of history at once, then 30 h live in two and a half seconds
    with LiveRig(sc, table, speed=30 * 3600 / 2.5, from_h=200.0, mqtt=False, opcua=True,
                 opcua_mode="variables", linger=0.5) as rig:  # fmt: skip
        assert rig.emulator.done.wait(30)
        final = _final(table, sc)
        for _ in range(100):  # the last notifications arrive within a publishing interval
            _, _, states = rig.twin.unit_states()
            if states == final:
                break
            rig._halt.wait(0.05)
        status = rig.twin.status()
    assert states == final
    assert status["counts"]["bad"] == 0 and status["counts"]["late"] == 0
    changes = sum(1 for t, k in zip(table.column("t").to_pylist(), table.column("kind").to_pylist(),
                                    strict=True) if k == "state" and t > 200.0)  # fmt: skip
    assert changes >= 20 and status["counts"]["applied"] >= len(final) + changes // 2


def _final(table, sc) -> dict[str, str]:
    last = unit_states_at(table, [table.column("t")[-1].as_py()])[0]
    return {n: last.get(n, "idle") for n, _ in sc.unit_names()}


def _certificates(folder):
    from asyncua.crypto.cert_gen import setup_self_signed_certificate
    from cryptography.x509.oid import ExtendedKeyUsageOID

    files = {}
    for role, use in (("server", ExtendedKeyUsageOID.SERVER_AUTH),
                      ("client", ExtendedKeyUsageOID.CLIENT_AUTH)):  # fmt: skip
        key, cert = folder / f"{role}-key.pem", folder / f"{role}-cert.der"
        asyncio.run(setup_self_signed_certificate(
            key, cert, f"urn:pharmatwin:test:{role}", "127.0.0.1", [use], {"commonName": role}
        ))  # fmt: skip
        files[role] = (str(cert), str(key))
    return files


def test_a_secure_endpoint_with_logins(osd, tmp_path):
    """Basic256Sha256 SignAndEncrypt and a user name: the twin with both follows the plant; a
    client without security, or with a wrong password, gets nothing; no password shows."""
    from twin.live.broker import free_port
    from twin.live.emulator import Emulator, EmulatorOptions
    from twin.live.opcua import OpcUaPlantServer, OpcUaSettings, OpcUaSubscriber
    from twin.live.shadow import ShadowTwin

    sc, table = osd
    day = table.filter(table.column("t").to_numpy() <= 24.0)
    certs = _certificates(tmp_path)
    endpoint = f"opc.tcp://127.0.0.1:{free_port()}/pharmatwin"
    server = OpcUaPlantServer(endpoint, sc, certificate=certs["server"][0],
                              private_key=certs["server"][1], users={"op": "Op-Pa55"})  # fmt: skip
    secure = f"Basic256Sha256,SignAndEncrypt,{certs['client'][0]},{certs['client'][1]},{certs['server'][0]}"
    twins, clients = [], []
    try:
        server.start()
        for security, password in ((secure, "Op-Pa55"), (None, "Op-Pa55"), (secure, "Wrong-Pa55")):
            twin = ShadowTwin(sc, say=lambda _m: None)
            client = OpcUaSubscriber(OpcUaSettings(endpoint, security, "op", password), sc, twin)
            client.start()
            twins.append(twin)
            clients.append(client)
        good = twins[0]
        for _ in range(200):
            if good.connections.get("opcua", "").startswith("connected"):
                break
            good.step(0.05)
        emu = Emulator(sc, day, options=EmulatorOptions(speed=24 * 3600 / 1.5, linger=5))
        emu.attach_opcua(server)
        import threading

        stop = threading.Event()
        runner = threading.Thread(target=emu.run, args=(stop,), daemon=True)
        runner.start()
        for _ in range(400):
            for t in twins:
                t.step(0.02)
            if good.caught_up(finished=True):
                break
        stop.set()
        runner.join(10)
    finally:
        for c in clients:
            c.stop()
        server.stop()
    assert good.counts.applied == day.num_rows
    assert twins[1].counts.received == 0 and twins[2].counts.received == 0
    assert not twins[1].connections["opcua"].startswith("connected")
    assert not twins[2].connections["opcua"].startswith("connected")
    shown = str([t.status() for t in twins]) + repr([c.settings for c in clients])
    assert "Pa55" not in shown
