# Runs a room's R script inside the sandbox and reports only where it failed.
#
# The condition message and the calls go to stderr, which the core withholds from the analyst
# unless the room enabled logs for the node (they can contain data values). When the script
# failed, the last line of stderr is a marker with the script's line number and nothing else: no
# condition class, which the script chooses. The script runs in this interpreter and can forge
# the marker; the core accepts the line only within the script's own length (see
# sealroom/compute/scripts/failure.py), and never tells the exit status. sealroom_util.R is
# attached for the script (read_tabular_data, write_tabular_data).
local({
    script <- "/input/code/main.R"
    util <- new.env()
    sys.source("/opt/sealroom/runtime/sealroom_util.R", envir = util)
    attach(util, name = "sealroom_util")

    fail <- function(condition, line) {
        call <- conditionCall(condition)
        where <- if (is.null(call)) "" else paste0(" in ", deparse(call, nlines = 1L)[[1L]])
        message("Error", where, ": ", conditionMessage(condition))
        line <- suppressWarnings(as.integer(line))
        if (length(line) == 1L && !is.na(line) && line > 0L) {
            message("\n__SEALROOM_SCRIPT_ERROR__ ", line)
        }
        quit(save = "no", status = 1L, runLast = FALSE)
    }

    # The innermost call whose source is the script: the most precise line to report.
    script_line <- function(fallback) {
        for (call in rev(sys.calls())) {
            ref <- attr(call, "srcref")
            if (!is.null(ref) && identical(attr(ref, "srcfile")$filename, script)) {
                return(ref[[1L]])
            }
        }
        fallback
    }

    expressions <- tryCatch(
        parse(script, keep.source = TRUE),
        error = function(condition) {
            where <- regmatches(conditionMessage(condition),
                                regexec(":([0-9]+):[0-9]+:", conditionMessage(condition)))[[1L]]
            fail(condition, if (length(where) == 2L) where[[2L]] else 0L)
        }
    )
    refs <- attr(expressions, "srcref")
    line <- 0L
    withCallingHandlers(
        for (i in seq_along(expressions)) {
            line <- refs[[i]][[1L]]
            eval(expressions[[i]], envir = globalenv())
        },
        error = function(condition) fail(condition, script_line(line))
    )
})
