"""What-if: change what a planner touches on a base scenario (or an uploaded one), launch
replications in the background and watch them finish; finished runs appear on the Runs page."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlencode

import dash
from dash import ALL, Input, Output, State, callback, dcc, html, no_update

from dashboard import ids, whatif
from dashboard.context import jobs, public, scenarios_dir
from twin.scenario import ScenarioError, load, load_dict

PLAN_SECONDS = 10.0  # optimiser time for "use an optimised plan"

dash.register_page(__name__, path="/what-if", name="What-if", title="PharmaTwin: what-if")

UPLOADED = "upload"


def layout(**_query: str) -> html.Div:
    files = [Path(f).name for f in whatif.list_scenarios(scenarios_dir())]
    options = [{"label": f, "value": f} for f in files]
    plan_ok = whatif.plan_option_available()
    return html.Div(
        [
            html.H2("What-if"),
            html.Div(
                [
                    html.Label("base scenario"),
                    dcc.Dropdown(
                        id=ids.WI_BASE,
                        options=options,
                        clearable=False,
                        value=next(
                            (f for f in files if f == "tiny.yaml"), files[0] if files else None
                        ),
                        style={"width": "320px"},
                    ),
                    html.Div(
                        dcc.Upload(
                            id=ids.WI_UPLOAD,
                            max_size=whatif.MAX_UPLOAD_BYTES,
                            accept=".yaml,.yml",
                            children=html.Div(
                                [
                                    "or drop / ",
                                    html.A("choose a scenario file"),
                                    f" (YAML, at most {whatif.MAX_UPLOAD_BYTES // 1000} kB)",
                                ]
                            ),
                            className="upload",
                        ),
                        # read by assets/upload.js: a larger file is refused with this limit
                        id=ids.WI_UPLOAD_BOX,
                        **{
                            "data-max-bytes": str(whatif.MAX_UPLOAD_BYTES),
                            "data-error-id": ids.WI_ERROR,
                        },
                    ),
                ],
                className="toolbar",
            ),
            dcc.Store(id=ids.WI_UPLOADED),
            html.Pre(id=ids.WI_ERROR, className="error"),
            html.Div(id=ids.WI_FORM, className="form"),
            html.Div(
                [
                    html.Div(
                        [
                            html.Label("AGV fleet size"),
                            dcc.Input(id=ids.WI_FLEET, type="number", min=1, step=1),
                        ],
                        className="field",
                    ),
                    html.Div(
                        [
                            html.Label("MTBF x"),
                            dcc.Input(id=ids.WI_MTBF, type="number", min=0.1, step=0.1, value=1.0),
                        ],
                        className="field",
                    ),
                    html.Div(
                        [
                            html.Label("order volume x (interarrival ÷)"),
                            dcc.Input(
                                id=ids.WI_VOLUME, type="number", min=0.1, step=0.1, value=1.0
                            ),
                        ],
                        className="field",
                    ),
                    html.Div(
                        [
                            html.Label("dispatch rule"),
                            dcc.Dropdown(
                                id=ids.WI_DISPATCH, clearable=False, style={"width": "180px"}
                            ),
                        ],
                        className="field",
                    ),
                    html.Div(
                        [
                            html.Label("replications"),
                            dcc.Input(
                                id=ids.WI_REPS, type="number", min=1, max=100, step=1, value=2
                            ),
                        ],
                        className="field",
                    ),
                    html.Div(
                        [
                            html.Label("seed"),
                            dcc.Input(id=ids.WI_SEED, type="number", min=0, step=1, value=1),
                        ],
                        className="field",
                    ),
                    html.Div(
                        [
                            dcc.Checklist(
                                id=ids.WI_PLAN,
                                options=[
                                    {
                                        "label": " use an optimised plan",
                                        "value": "plan",
                                        "disabled": not plan_ok,
                                    }
                                ],
                                value=[],
                            ),
                            html.Small(
                                "needs optimizer/plan_commands.py (not in this build)"
                                if not plan_ok
                                else "plans for 10 s first; every replication follows the plan"
                            ),
                        ],
                        className="field",
                    ),
                ],
                className="row fields",
            ),
            html.Button("Launch", id=ids.WI_LAUNCH, className="btn"),
            html.Span(id="wi-launched", className="message"),
            dcc.Interval(id=ids.WI_POLL, interval=1000),
            html.H3("Jobs"),
            html.Div(id=ids.WI_JOBS),
        ]
    )


def _base(base: str | None, uploaded: dict | None) -> tuple[str, dict | None]:
    """(base name, plain data or None to read the file) of the chosen scenario."""
    if base == UPLOADED and uploaded:
        name = uploaded["filename"]
        return name, whatif.read_upload(uploaded["contents"], name)
    # only the files offered: the value comes from the browser and must not name other files
    offered = {Path(f).name: f for f in whatif.list_scenarios(scenarios_dir())}
    if base not in offered:
        raise ScenarioError(str(base), "", base, "not one of the scenarios offered; pick one")
    return offered[base], None


@callback(
    Output(ids.WI_UPLOADED, "data"),
    Output(ids.WI_BASE, "options"),
    Output(ids.WI_BASE, "value"),
    Output(ids.WI_ERROR, "children", allow_duplicate=True),
    Input(ids.WI_UPLOAD, "contents"),
    State(ids.WI_UPLOAD, "filename"),
    State(ids.WI_BASE, "options"),
    prevent_initial_call=True,
)
def upload(contents, filename, options):
    """A good file becomes the base scenario; a bad one leaves the page as it was (the base
    chosen, an earlier upload) and shows why it was refused."""
    files = [o for o in options if o["value"] != UPLOADED]
    try:
        whatif.read_upload(contents, filename)
    except ScenarioError as exc:
        return no_update, no_update, no_update, f"error: {exc}"
    option = {"label": f"uploaded: {Path(filename).name}", "value": UPLOADED}
    return {"filename": Path(filename).name, "contents": contents}, [*files, option], UPLOADED, ""


@callback(
    Output(ids.WI_FORM, "children"),
    Output(ids.WI_FLEET, "value"),
    Output(ids.WI_FLEET, "disabled"),
    Output(ids.WI_DISPATCH, "options"),
    Output(ids.WI_DISPATCH, "value"),
    Output(ids.WI_VOLUME, "disabled"),
    Output(ids.WI_ERROR, "children", allow_duplicate=True),
    Input(ids.WI_BASE, "value"),
    State(ids.WI_UPLOADED, "data"),
    prevent_initial_call="initial_duplicate",
)
def form(base, uploaded):
    if not base:
        if whatif.list_scenarios(scenarios_dir()):
            return [], None, True, [], None, True, no_update
        return [], None, True, [], None, True, "no scenario files in the scenarios folder"
    try:
        name, data = _base(base, uploaded)
        sc = load_dict(data, name) if data is not None else load(name)
    except ScenarioError as exc:
        return [], None, True, [], None, True, public(f"error: {exc}")
    p = whatif.params_of(sc)

    def group(title: str, kind: str, values: dict[str, int], low: int) -> html.Div:
        return html.Div(
            [
                html.H4(title),
                html.Div(
                    [
                        html.Div(
                            [
                                html.Label(k),
                                dcc.Input(
                                    id={"type": kind, "index": k},
                                    type="number",
                                    min=low,
                                    step=1,
                                    value=v,
                                ),
                            ],
                            className="field",
                        )
                        for k, v in values.items()
                    ],
                    className="row fields",
                ),
            ]
        )

    children = [
        html.P(f"{sc.name}: {sc.description}".strip(": ")),
        group("units (count)", ids.WI_UNIT, p.units, 1),
    ]
    if p.staff:
        children.append(group("staff (people per pool)", ids.WI_STAFF, p.staff, 0))
    rules = [{"label": r, "value": r} for r in p.dispatch_rules]
    return (children, p.fleet, p.fleet is None, rules, p.dispatch, not p.demand_streams, "")


@callback(
    Output("wi-launched", "children"),
    Output(ids.WI_ERROR, "children", allow_duplicate=True),
    Input(ids.WI_LAUNCH, "n_clicks"),
    State(ids.WI_BASE, "value"),
    State(ids.WI_UPLOADED, "data"),
    State({"type": ids.WI_UNIT, "index": ALL}, "value"),
    State({"type": ids.WI_UNIT, "index": ALL}, "id"),
    State({"type": ids.WI_STAFF, "index": ALL}, "value"),
    State({"type": ids.WI_STAFF, "index": ALL}, "id"),
    State(ids.WI_FLEET, "value"),
    State(ids.WI_MTBF, "value"),
    State(ids.WI_VOLUME, "value"),
    State(ids.WI_DISPATCH, "value"),
    State(ids.WI_REPS, "value"),
    State(ids.WI_SEED, "value"),
    State(ids.WI_PLAN, "value"),
    prevent_initial_call=True,
)
def launch(
    _n,
    base,
    uploaded,
    units,
    unit_ids,
    staff,
    staff_ids,
    fleet,
    mtbf,
    volume,
    rule,
    reps,
    seed,
    use_plan,
):
    try:
        name, data = _base(base, uploaded)
        sc = load_dict(data, name) if data is not None else load(name)
        sets = whatif.overrides(
            sc,
            units={i["index"]: v for i, v in zip(unit_ids, units, strict=True)},
            staff={i["index"]: v for i, v in zip(staff_ids, staff, strict=True)},
            fleet=fleet,
            mtbf_factor=float(mtbf or 1.0),
            volume_factor=float(volume or 1.0),
            dispatch=rule,
        )
        label = whatif.describe(sets, float(mtbf or 1.0), float(volume or 1.0))
        variant = whatif.make_variant(name, sets, data, name=label)
    except (ScenarioError, ValueError) as exc:
        return "", public(f"error: {exc}")
    reps = max(1, min(int(reps or 1), 100))
    plan_seconds = PLAN_SECONDS if use_plan and "plan" in use_plan else None
    job = jobs().submit(variant, int(seed or 0), reps, plan_seconds)
    plan = f", optimised plan ({PLAN_SECONDS:g} s)" if plan_seconds else ""
    return f"job {job} started: {variant.name}{plan} x {reps} replication(s)", ""


@callback(Output(ids.WI_JOBS, "children"), Input(ids.WI_POLL, "n_intervals"))
def poll(_n):
    items = []
    for j in jobs().list():
        total = j["total"] or j["replications"]
        status = {"done": "done", "failed": f"failed: {j['error']}"}.get(
            j["state"], f"{j['state']} {j['done']}/{total}"
        )
        link = (
            dcc.Link("play back", href="/playback?" + urlencode({"run": j["run_id"]}))
            if j["state"] == "done" and j["run_id"]
            else ""
        )
        items.append(
            html.Li(
                [
                    html.Progress(value=str(j["done"]), max=str(max(total, 1))),
                    f" job {j['id']}: {j['label']} ({j['replications']} rep.) {public(status)} ",
                    link,
                ],
                className=f"job {j['state']}",
            )
        )
    return html.Ul(items) if items else html.P("No what-if runs launched from this page yet.")
