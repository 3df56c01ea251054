/* PharmaTwin playback in the browser.
 *
 * The page fetches the run's timeline once (dashboard/timeline.py: a small JSON header and
 * typed arrays) and draws any cursor time by itself: unit colours, AGV positions (moves
 * interpolated), batches, the KPI cards, the clock and the cursor lines of the Gantt and curve
 * plots. The moving things are drawn in an SVG layer over the plotly figures, never by
 * re-plotting them (a plotly update costs 50-100 ms; this layer well under one), and draws are
 * coalesced to one per animation frame, so dragging the slider or playing never queues work
 * behind the mouse. The server sends the figures without them (units, AGVs and batches hidden,
 * no plotly cursor line) and the first frame it computed (key.frame), which this layer draws as
 * soon as plotly has drawn the figures, before the timeline is here: no figure is ever
 * re-plotted for the layer. Only public APIs are used: gd.layout (the figure's layout, which
 * plotly keeps current on zoom) and dash_clientside.set_props.
 */
(function () {
    "use strict";
    const ARRAYS = {f8: Float64Array, f4: Float32Array, u1: Uint8Array, u2: Uint16Array,
                    u4: Uint32Array, i2: Int16Array, i4: Int32Array};
    const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
    const SPREAD_EPS = 0.5;  // metres, as dashboard/plant_layout.py

    function decode(buffer) {
        const n = new DataView(buffer).getUint32(0, true);
        const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, n)));
        const base = 4 + n, a = {};
        for (const [name, [dt, off, count]] of Object.entries(header.arrays)) {
            a[name] = new ARRAYS[dt](buffer, base + off, count);
        }
        header.a = a;
        return header;
    }

    // last index in [lo, hi) with arr[i] <= x, or lo - 1
    function bisect(arr, x, lo, hi) {
        while (lo < hi) {
            const mid = (lo + hi) >> 1;
            if (arr[mid] <= x) { lo = mid + 1; } else { hi = mid; }
        }
        return lo - 1;
    }

    function iso(startMs, t) {
        return new Date(startMs + t * 3600000).toISOString().slice(0, 19);
    }

    function clock(startMs, t) {
        const d = new Date(startMs + t * 3600000);
        return DAYS[d.getUTCDay()] + " " + d.toISOString().slice(0, 16).replace("T", " ");
    }

    // vehicles on one spot stacked in a column (as plant_layout.spread)
    function spread(xs, ys, radius) {
        const groups = [];
        for (let i = 0; i < xs.length; i++) {
            let g = groups.find(g => Math.abs(xs[g[0]] - xs[i]) < SPREAD_EPS &&
                                     Math.abs(ys[g[0]] - ys[i]) < SPREAD_EPS);
            if (g) { g.push(i); } else { groups.push([i]); }
        }
        const ox = xs.slice(), oy = ys.slice();
        for (const g of groups) {
            if (g.length < 2) { continue; }
            const cx = xs[g[0]], cy = ys[g[0]];
            g.forEach((i, k) => {
                ox[i] = cx;
                oy[i] = cy + radius * ((g.length - 1) / 2 - k);
            });
        }
        return [ox, oy];
    }

    function graph(id) {
        const el = document.getElementById(id);
        return el ? el.querySelector(".js-plotly-plot") : null;
    }

    const pb = {
        tl: null, url: null, startMs: 0, t: null, raf: 0, lastInput: -1e9,
        playing: false, speed: 1000, lastWall: 0, lastPush: 0, frames: [], ids: {},

        init(cfg) {
            this.ids = cfg.ids;
            this.startMs = cfg.start_ms;
            // the server's frame of the page's first time: drawn before the timeline is here
            this.first = cfg.frame ? {t: Number(cfg.t), f: cfg.frame} : null;
            this.waits = 0;
            if (cfg.timeline !== this.url) {
                this.url = cfg.timeline;
                this.tl = null;
                this.stop();
                fetch(cfg.timeline, {credentials: "same-origin"})
                    .then(r => { if (!r.ok) { throw new Error(r.status); } return r.arrayBuffer(); })
                    .then(buf => {
                        if (this.url !== cfg.timeline) { return; }
                        this.tl = decode(buf);
                        if (this.t !== null) { this.schedule(); }
                    })
                    .catch(err => console.warn("playback timeline not loaded:", err));
            }
        },

        // stamp: when the input that asked for this time happened (the last pointer move or
        // key press, when recent), so the frame times measured are what a person feels
        seek(t, stamp) {
            this.t = Number(t);
            const now = performance.now();
            this.stamp = stamp || (now - this.lastInput < 500 ? this.lastInput : now);
            this.schedule();
        },

        schedule() {
            if (!this.raf) {
                this.raf = requestAnimationFrame(() => { this.raf = 0; this.draw(); });
            }
        },

        draw() {
            const tl = this.tl, t = this.t;
            if (t === null) { return; }
            // the plant at t: from the timeline, else the server's frame when t is its time
            const f = tl ? this.frameAt(tl, t) :
                (this.first && Math.abs(this.first.t - t) < 1e-9 ? this.first.f : null);
            // a figure plotly has not drawn yet is drawn over on a later animation frame
            let waiting = false;
            const ready = id => {
                const gd = graph(id);
                if (gd && gd.layout) { return gd; }
                if (document.getElementById(id)) { waiting = true; }
                return null;
            };
            const plant = ready(this.ids.plant);
            if (plant && f) { this.layer(plant, f); }
            const ms = this.startMs + t * 3600000;
            for (const id of [this.ids.gantt, this.ids.series, ...(this.ids.curves || [])]) {
                const gd = ready(id);
                if (gd) { this.cursorLine(gd, ms); }
            }
            if (tl) { this.cards(t); }
            const c = document.getElementById(this.ids.clock);
            if (c) { c.textContent = clock(this.startMs, t); }
            if (waiting && this.waits++ < 600) { this.schedule(); return; }
            if (!tl) { return; }
            // a frame is drawn when the browser has painted it: the next animation frame
            const stamp = this.stamp;
            requestAnimationFrame(() => {
                this.frames.push(performance.now() - stamp);
                if (this.frames.length > 5000) { this.frames.splice(0, 1000); }
                const d = document.getElementById(this.ids.drawn);
                if (d) { d.textContent = String(t); }
            });
        },

        // units (colour by state), vehicles (the move under way, interpolated; those on one
        // spot spread apart) and batches (on their unit, or on their vehicle) at time t
        frameAt(tl, t) {
            const a = tl.a, nu = tl.units.length, nv = tl.vehicles.length;
            const ucol = new Array(nu), uhov = new Array(nu), ux = new Array(nu), uy = new Array(nu);
            for (let i = 0; i < nu; i++) {
                const lo = a.st_off[i], k = bisect(a.st_t, t, lo, a.st_off[i + 1]);
                const s = k >= lo ? a.st_c[k] : -1;
                ucol[i] = s >= 0 ? tl.state_colours[s] : "#c7c7c7";
                uhov[i] = tl.units[i] + " (" + tl.unit_class[i] + ", room " + tl.unit_room[i] +
                    "): " + (s >= 0 ? tl.states[s] : "idle");
                ux[i] = a.unit_xy[2 * i]; uy[i] = a.unit_xy[2 * i + 1];
            }
            let vx = new Array(nv), vy = new Array(nv);
            const vcol = new Array(nv), vhov = new Array(nv);
            for (let i = 0; i < nv; i++) {
                const lo = a.mv_off[i], k = bisect(a.mv_t0, t, lo, a.mv_off[i + 1]);
                if (k >= lo) {
                    const p = a.mv_a[k], q = a.mv_b[k], dur = a.mv_dur[k];
                    const f = dur > 0 ? Math.min(1, (t - a.mv_t0[k]) / dur) : 1;
                    vx[i] = a.points[2 * p] + (a.points[2 * q] - a.points[2 * p]) * f;
                    vy[i] = a.points[2 * p + 1] + (a.points[2 * q + 1] - a.points[2 * p + 1]) * f;
                } else {
                    vx[i] = a.v_home[2 * i]; vy[i] = a.v_home[2 * i + 1];
                }
                const slo = a.vs_off[i], ks = bisect(a.vs_t, t, slo, a.vs_off[i + 1]);
                const s = ks >= slo ? a.vs_c[ks] : -1;
                vcol[i] = s >= 0 ? tl.v_colours[s] : "#c7c7c7";
                vhov[i] = tl.vehicles[i] + ": " + (s >= 0 ? tl.v_states[s] : "idle");
            }
            [vx, vy] = spread(vx, vy, tl.spread_m);
            const bx = [], by = [], bhov = [];
            const nb = bisect(a.bp_start, t, 0, a.bp_start.length) + 1;
            for (let j = 0; j < nb; j++) {
                if (!(a.bp_end[j] > t)) { continue; }
                const u = a.bp_unit[j], v = a.bp_vehicle[j];
                if (u >= 0) { bx.push(ux[u]); by.push(uy[u]); }
                else if (v >= 0) { bx.push(vx[v]); by.push(vy[v] + 3); }
                else { continue; }
                bhov.push("batch " + a.bp_batch[j]);
            }
            return {units: tl.units, vehicles: tl.vehicles,
                    ux, uy, ucol, uhov, vx, vy, vcol, vhov, bx, by, bhov};
        },

        // The moving part of the plant, drawn in an SVG layer over the plotly figure. Its
        // viewBox is the figure's axis ranges (gd.layout, which plotly keeps current) and it
        // covers the plot area (the figure's fixed margins), so metres map to the same pixels
        // as plotly's: equal axes and centring, as plotly's constrain: "domain".
        layer(gd, f) {
            const NS = "http://www.w3.org/2000/svg";
            const host = gd.parentElement;
            let ov = host.querySelector(":scope > svg.pt-layer");
            if (!ov) {
                host.style.position = "relative";
                ov = document.createElementNS(NS, "svg");
                ov.setAttribute("class", "pt-layer");
                ov.setAttribute("preserveAspectRatio", "xMidYMid meet");
                for (const name of ["units", "batches", "agvs"]) {
                    const g = document.createElementNS(NS, "g");
                    g.setAttribute("class", "pt-" + name);
                    ov.appendChild(g);
                }
                host.appendChild(ov);
            }
            const m = gd.layout.margin, box = gd.getBoundingClientRect();
            const xr = gd.layout.xaxis.range, yr = gd.layout.yaxis.range;
            const pw = box.width - m.l - m.r, ph = box.height - m.t - m.b;
            if (pw <= 0 || ph <= 0 || !xr || !yr) { return; }
            Object.assign(ov.style, {position: "absolute", left: m.l + "px", top: m.t + "px",
                                     width: pw + "px", height: ph + "px", overflow: "hidden"});
            const x0 = +xr[0], x1 = +xr[1], y0 = +yr[0], y1 = +yr[1];
            ov.setAttribute("viewBox", [x0, -y1, x1 - x0, y1 - y0].join(" "));
            const k = Math.max((x1 - x0) / pw, (y1 - y0) / ph);  // metres per pixel
            const pool = (g, n, make) => {
                while (g.childNodes.length < n) { g.appendChild(make()); }
                for (let i = 0; i < g.childNodes.length; i++) {
                    g.childNodes[i].style.display = i < n ? "" : "none";
                }
                return g.childNodes;
            };
            const titled = (tag) => () => {
                const el = document.createElementNS(NS, tag);
                el.appendChild(document.createElementNS(NS, "title"));
                return el;
            };
            const units = pool(ov.querySelector(".pt-units"), f.ux.length, titled("rect"));
            for (let i = 0; i < f.ux.length; i++) {
                const r = units[i];
                r.setAttribute("x", f.ux[i] - 9 * k); r.setAttribute("y", -f.uy[i] - 9 * k);
                r.setAttribute("width", 18 * k); r.setAttribute("height", 18 * k);
                r.setAttribute("fill", f.ucol[i]);
                r.setAttribute("data-unit", f.units[i]);
                if (r.firstChild.textContent !== f.uhov[i]) { r.firstChild.textContent = f.uhov[i]; }
            }
            const dots = pool(ov.querySelector(".pt-batches"), f.bx.length, titled("circle"));
            for (let i = 0; i < f.bx.length; i++) {
                const c = dots[i];
                c.setAttribute("cx", f.bx[i]); c.setAttribute("cy", -f.by[i]);
                c.setAttribute("r", 3.5 * k);
                c.firstChild.textContent = f.bhov[i];
            }
            const agvs = pool(ov.querySelector(".pt-agvs"), f.vx.length, () => {
                const g = document.createElementNS(NS, "g");
                g.appendChild(document.createElementNS(NS, "title"));
                g.appendChild(document.createElementNS(NS, "path"));
                g.appendChild(document.createElementNS(NS, "text"));
                return g;
            });
            const d = 7 * k;
            for (let i = 0; i < f.vx.length; i++) {
                const g = agvs[i], x = f.vx[i], y = -f.vy[i];
                g.setAttribute("data-agv", f.vehicles[i]);
                g.childNodes[0].textContent = f.vhov[i];
                const path = g.childNodes[1];
                path.setAttribute("d", `M${x} ${y - d}L${x + d} ${y}L${x} ${y + d}L${x - d} ${y}Z`);
                path.setAttribute("fill", f.vcol[i]);
                const text = g.childNodes[2];
                text.setAttribute("x", x + d + 2 * k); text.setAttribute("y", y + 3 * k);
                text.setAttribute("font-size", 9 * k);
                if (text.textContent !== f.vehicles[i]) { text.textContent = f.vehicles[i]; }
            }
        },

        // the cursor as a line over a date axis: x from the axis range and the fixed margins
        cursorLine(gd, ms) {
            const host = gd.parentElement;
            let line = host.querySelector(":scope > .pb-cursor");
            if (!line) {
                host.style.position = "relative";
                line = document.createElement("div");
                line.className = "pb-cursor";
                host.appendChild(line);
            }
            const m = gd.layout.margin, box = gd.getBoundingClientRect();
            const xr = (gd.layout.xaxis || {}).range;
            if (!xr || !m) { return; }
            const toMs = v => typeof v === "number" ? v :
                Date.parse(String(v).replace(" ", "T") + (String(v).length <= 10 ? "T00:00:00Z" : "Z"));
            const r0 = toMs(xr[0]), r1 = toMs(xr[1]), pw = box.width - m.l - m.r;
            const x = m.l + (ms - r0) / (r1 - r0) * pw;
            const inside = ms >= r0 && ms <= r1;
            Object.assign(line.style, {left: x + "px", top: m.t + "px",
                                       height: Math.max(0, box.height - m.t - m.b) + "px",
                                       display: inside ? "block" : "none"});
        },

        hoursUntil(s, t) {
            const a = this.tl.a, k = bisect(a.cum_t, t, 0, a.cum_t.length);
            if (k < 0) { return 0; }
            return a["cum_h_" + s][k] + a["cum_n_" + s][k] * (t - a.cum_t[k]);
        },

        count(arr, t) { return bisect(arr, t, 0, arr.length) + 1; },

        // the same cards as figures.kpi_cards, in the same order
        cards(t) {
            const box = document.getElementById(this.ids.kpis);
            if (!box) { return; }
            const a = this.tl.a, total = this.hoursUntil("all", t) || 1;
            const released = this.count(a.mark_release, t);
            const kw = bisect(a.wip_t, t, 0, a.wip_t.length);
            const elapsed = Math.max(t - this.tl.t0, 0);
            const pct = s => (100 * this.hoursUntil(s, t) / total).toFixed(1) + "%";
            const d = new Date(this.startMs + t * 3600000);
            const values = [
                d.toISOString().slice(0, 16).replace("T", " ") + " (day " + (t / 24).toFixed(1) + ")",
                String(released),
                String(kw >= 0 ? Math.round(a.wip_v[kw]) : 0),
                pct("processing"), pct("down"), pct("cleaning"),
                String(this.count(a.mark_breakdown, t)),
                String(this.count(a.mark_deviation, t)),
                String(this.count(a.mark_order_complete, t)),
                elapsed > 0 ? (released / elapsed * 168).toFixed(1) : "-",
            ];
            const cells = box.querySelectorAll(".card .value");
            for (let i = 0; i < cells.length && i < values.length; i++) {
                if (cells[i].textContent !== values[i]) { cells[i].textContent = values[i]; }
            }
        },

        // the event list around the settled cursor (pages/playback.py, _events): a table of
        // text cells, rows after the cursor grey
        events(rows, id) {
            const box = document.getElementById(id);
            if (!box || !rows) { return; }
            const el = (tag, text, cls) => {
                const e = document.createElement(tag);
                if (text !== undefined) { e.textContent = text; }
                if (cls) { e.className = cls; }
                return e;
            };
            const table = el("table", undefined, "events");
            const head = el("tr");
            for (const h of rows.head) { head.appendChild(el("th", h)); }
            table.appendChild(el("thead")).appendChild(head);
            const body = table.appendChild(el("tbody"));
            rows.rows.forEach((cells, i) => {
                const tr = body.appendChild(el("tr", undefined, rows.past[i] ? "past" : "future"));
                for (const c of cells) { tr.appendChild(el("td", c)); }
            });
            box.replaceChildren(el("h4", rows.title), table);
        },

        play(on, speed) {
            this.speed = Number(speed) || 1000;
            if (!on) { this.stop(); return; }
            if (this.playing) { return; }
            this.playing = true;
            this.lastWall = performance.now();
            this.lastPush = this.lastWall;
            const step = (now) => {
                if (!this.playing) { return; }
                const tl = this.tl;
                if (tl && this.t !== null) {
                    const t = Math.min(this.t + this.speed * (now - this.lastWall) / 3.6e6, tl.t1);
                    this.seek(t, now);
                    if (now - this.lastPush > 1000 || t >= tl.t1) {
                        this.lastPush = now;
                        this.push();
                    }
                    if (t >= tl.t1) { this.stop(true); return; }
                }
                this.lastWall = now;
                requestAnimationFrame(step);
            };
            requestAnimationFrame(step);
        },

        stop(ended) {
            const was = this.playing;
            this.playing = false;
            if (was) { this.push(); }
            if (ended && window.dash_clientside && this.ids.play) {
                window.dash_clientside.set_props(this.ids.play, {children: "▶ Play"});
            }
        },

        // hand the cursor to the server side (Gantt window, event list, URL)
        push() {
            if (window.dash_clientside && this.ids.slider && this.t !== null) {
                window.dash_clientside.set_props(this.ids.slider, {value: this.t});
            }
        },
    };

    window.addEventListener("resize", () => pb.schedule());
    for (const kind of ["pointermove", "pointerdown", "keydown"]) {
        document.addEventListener(kind, e => { pb.lastInput = e.timeStamp; }, true);
    }
    window.pharmatwin = Object.assign(window.pharmatwin || {}, {playback: pb, iso: iso});
    // the slider's tooltip speaks dates (dcc.Slider tooltip.transform)
    window.dccFunctions = window.dccFunctions || {};
    window.dccFunctions.pharmatwinDate = function (t) {
        return clock(pb.startMs, Number(t));
    };
})();
