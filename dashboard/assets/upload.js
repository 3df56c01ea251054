/* What-if uploads: a file over the size limit is refused by the browser before it is sent
 * (dcc.Upload's max_size drops it without a word); say so, with the limit, in the page's
 * error box. The limit and the box's id are data attributes of the upload's wrapper. */
(function () {
    "use strict";
    function check(files, box) {
        const limit = Number(box.dataset.maxBytes);
        for (const f of files || []) {
            if (f.size > limit) {
                const msg = "error: " + f.name + ": file too large (" + f.size.toLocaleString("en") +
                    " bytes); expected a scenario file of at most " + limit.toLocaleString("en") +
                    " bytes (" + Math.round(limit / 1000) + " kB)";
                if (window.dash_clientside) {
                    window.dash_clientside.set_props(box.dataset.errorId, {children: msg});
                }
            }
        }
    }
    function handler(kind) {
        return function (e) {
            const box = e.target && e.target.closest ? e.target.closest("[data-max-bytes]") : null;
            if (!box) { return; }
            check(kind === "drop" ? (e.dataTransfer || {}).files : e.target.files, box);
        };
    }
    document.addEventListener("change", handler("change"), true);
    document.addEventListener("drop", handler("drop"), true);
})();
