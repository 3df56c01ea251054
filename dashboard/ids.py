"""Component ids of the dashboard, in one place (pages and tests refer to these constants)."""

# shell (app.py)
NAV = "nav"

# runs page
RUNS_TABLE = "runs-table"
RUNS_REFRESH = "runs-refresh"
RUNS_PLAY = "runs-play"
RUNS_COMPARE = "runs-compare"
RUNS_DELETE = "runs-delete"
RUNS_CONFIRM = "runs-confirm"
RUNS_MESSAGE = "runs-message"
RUNS_POLL = "runs-poll"

# playback page
PB_RUN = "pb-run"
PB_REP = "pb-rep"
PB_LAYOUT = "pb-layout"
PB_GANTT = "pb-gantt"
PB_SERIES = "pb-series"
PB_SLIDER = "pb-slider"
PB_TIME = "pb-time"
PB_CLOCK = "pb-clock"
PB_PLAY = "pb-play"
PB_SPEED = "pb-speed"
PB_KIND = "pb-kind"
PB_PREV = "pb-prev"
PB_NEXT = "pb-next"
PB_KPIS = "pb-kpis"
PB_EVENTS = "pb-events"
PB_EVENT_ROWS = "pb-event-rows"
PB_SPAN = "pb-span"
PB_ERROR = "pb-error"
PB_DRAWN = "pb-drawn"

# compare page
CMP_RUNS = "cmp-runs"
CMP_KPIS = "cmp-kpis"
CMP_TABLE = "cmp-table"
CMP_DIST = "cmp-dist"
CMP_UTIL = "cmp-util"
CMP_GANTT = "cmp-gantt"
CMP_NOTE = "cmp-note"

# what-if page
WI_BASE = "wi-base"
WI_UPLOAD = "wi-upload"
WI_UPLOADED = "wi-uploaded"
WI_ERROR = "wi-error"
WI_FORM = "wi-form"
WI_UNIT = "wi-unit"  # pattern-matching type: {"type": WI_UNIT, "index": unit spec id}
WI_STAFF = "wi-staff"  # {"type": WI_STAFF, "index": staff pool}
WI_FLEET = "wi-fleet"
WI_MTBF = "wi-mtbf"
WI_VOLUME = "wi-volume"
WI_DISPATCH = "wi-dispatch"
WI_PLAN = "wi-plan"
WI_REPS = "wi-reps"
WI_SEED = "wi-seed"
WI_LAUNCH = "wi-launch"
WI_JOBS = "wi-jobs"
WI_POLL = "wi-poll"

# playback page (browser-side drawing, URL state, downloads)
PB_KEY = "pb-key"
PB_CURSOR = "pb-cursor"
PB_WINDOW = "pb-window"
PB_ZOOM = "pb-zoom"
PB_GO = "pb-go"
PB_TIME_MSG = "pb-time-msg"
PB_INIT = "pb-init"
PB_URL = "pb-url"
PB_DOWNLOADS = "pb-downloads"
PB_REPORT = "pb-report"

# playback page: process plants (tanks, utilities)
PB_TANKS = "pb-tanks"
PB_UTILITIES = "pb-utilities"
PB_LEVELS = "pb-levels"

# runs and compare pages: downloads, notes, URL state
RUNS_DOWNLOADS = "runs-downloads"
CMP_DOWNLOADS = "cmp-downloads"
CMP_REPORT = "cmp-report"
CMP_MISSING = "cmp-missing"
CMP_URL = "cmp-url"
CMP_LEVELS = "cmp-levels"  # process plants: tank levels and utility use
WI_UPLOAD_BOX = "wi-upload-box"

# live page
LIVE_SESSION = "live-session"
LIVE_POLL = "live-poll"
LIVE_HEAD = "live-head"
LIVE_SYNC = "live-sync"
LIVE_PLANT = "live-plant"
LIVE_FORECAST = "live-forecast"
LIVE_RATE = "live-rate"
LIVE_DIVERGENCES = "live-divergences"
LIVE_MESSAGE = "live-message"

# forecast page
FC_PICK = "fc-pick"
FC_HEAD = "fc-head"
FC_ORDERS = "fc-orders"
FC_KPIS = "fc-kpis"
FC_MESSAGE = "fc-message"
