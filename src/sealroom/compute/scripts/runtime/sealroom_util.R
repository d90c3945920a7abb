# Helpers for room R scripts (the R counterpart of sealroom_util.py), attached for every script:
#
#   df <- read_tabular_data("/input/customers")   # dataset.csv (no header) + types.json
#   write_tabular_data(df, "/output")              # readable by a downstream SQL node
#
# Columns keep their types: "integer" columns become R integers (doubles when a value does not
# fit in R's 32-bit integers), "float" and "decimal" columns doubles (R has no exact decimal),
# "boolean" logicals, "date" Dates, "timestamp" and "timestamp_tz" POSIXct in UTC, everything
# else character. Writing maps logicals, Dates and POSIXct (as UTC instants) back. Empty fields
# are NA, as in the Python helper. Base R only: no package outside r-base-core is needed.

.sealroom_dataset_file <- "dataset.csv"
.sealroom_types_file <- "types.json"

# One column object of types.json as Sealroom writes it (Python's json module or the writer
# below): {"name": <string>, "type": <word>, "nullable": true|false} and, for a decimal,
# "precision": <n>, "scale": <n>.
.sealroom_column_pattern <- paste0(
    '\\{\\s*"name"\\s*:\\s*"((?:[^"\\\\]|\\\\.)*)"\\s*,',
    '\\s*"type"\\s*:\\s*"(\\w+)"\\s*,',
    '\\s*"nullable"\\s*:\\s*(?:true|false)\\s*',
    '(?:,\\s*"precision"\\s*:\\s*[0-9]+\\s*,\\s*"scale"\\s*:\\s*[0-9]+\\s*)?\\}'
)

.sealroom_read_types <- function(path) {
    text <- paste(readLines(path, warn = FALSE, encoding = "UTF-8"), collapse = "\n")
    found <- regmatches(text, gregexpr(.sealroom_column_pattern, text, perl = TRUE))[[1L]]
    if (length(found) == 0L && grepl('"name"', text, fixed = TRUE)) {
        stop(path, " is not in the form Sealroom writes")
    }
    parts <- regmatches(found, regexec(.sealroom_column_pattern, found, perl = TRUE))
    # The name matched a JSON string body (escapes only, no bare quote): R parses it as one
    # string constant, which decodes the escapes. Nothing is evaluated.
    names <- vapply(parts, function(p) parse(text = paste0('"', p[[2L]], '"'))[[1L]], "")
    list(name = names, type = vapply(parts, function(p) p[[3L]], ""))
}

read_tabular_data <- function(path) {
    types <- .sealroom_read_types(file.path(path, .sealroom_types_file))
    dataset <- file.path(path, .sealroom_dataset_file)
    classes <- ifelse(types$type %in% c("integer", "float", "decimal"), "numeric",
               ifelse(types$type == "boolean", "logical", "character"))
    if (file.size(dataset) == 0) {
        columns <- lapply(seq_along(classes), function(i) {
            if (types$type[[i]] == "integer") integer(0) else vector(classes[[i]], 0L)
        })
        names(columns) <- types$name
        return(as.data.frame(columns, check.names = FALSE, stringsAsFactors = FALSE))
    }
    df <- utils::read.csv(dataset, header = FALSE, col.names = types$name,
                          colClasses = classes, na.strings = "", check.names = FALSE,
                          stringsAsFactors = FALSE, encoding = "UTF-8", comment.char = "")
    for (i in which(types$type == "integer")) {
        column <- df[[i]]
        if (all(is.na(column) | abs(column) <= .Machine$integer.max)) {
            df[[i]] <- as.integer(column)
        }
    }
    for (i in which(types$type == "date")) df[[i]] <- as.Date(df[[i]], format = "%Y-%m-%d")
    for (i in which(types$type %in% c("timestamp", "timestamp_tz"))) {
        df[[i]] <- as.POSIXct(sub("Z$", "", df[[i]]), tz = "UTC", format = "%Y-%m-%d %H:%M:%OS")
    }
    df
}

.sealroom_json_string <- function(x) {
    chars <- strsplit(enc2utf8(x), "")[[1L]]
    codes <- vapply(chars, utf8ToInt, 0L, USE.NAMES = FALSE)
    escaped <- ifelse(chars == "\\", "\\\\",
               ifelse(chars == '"', '\\"',
               ifelse(codes < 32L, sprintf("\\u%04x", codes), chars)))
    paste0('"', paste(escaped, collapse = ""), '"')
}

.sealroom_kind <- function(column) {
    if (inherits(column, "Date")) return("date")
    if (inherits(column, "POSIXct")) return("timestamp_tz")
    if (is.logical(column)) return("boolean")
    if (is.integer(column)) "integer" else if (is.double(column)) "float" else "string"
}

# A column as dataset.csv spells it: ISO 8601 dates and UTC instants, lower-case booleans.
.sealroom_csv_column <- function(column) {
    if (inherits(column, "Date")) return(format(column, "%Y-%m-%d"))
    if (inherits(column, "POSIXct")) return(format(column, "%Y-%m-%d %H:%M:%OS6Z", tz = "UTC"))
    if (is.logical(column)) return(ifelse(column, "true", "false"))
    column
}

write_tabular_data <- function(df, path = "/output") {
    dir.create(path, showWarnings = FALSE, recursive = TRUE)
    dataset <- file.path(path, .sealroom_dataset_file)
    if (file.exists(dataset)) stop(dataset, " already exists")
    df <- as.data.frame(df, stringsAsFactors = FALSE)
    kinds <- vapply(df, .sealroom_kind, "")
    df[] <- lapply(df, .sealroom_csv_column)
    utils::write.table(df, dataset, sep = ",", row.names = FALSE, col.names = FALSE, na = "",
                       qmethod = "double", fileEncoding = "UTF-8")
    columns <- vapply(seq_along(df), function(i) {
        sprintf('{"name": %s, "type": "%s", "nullable": true}',
                .sealroom_json_string(names(df)[[i]]), kinds[[i]])
    }, "")
    writeLines(paste0('{"columns": [', paste(columns, collapse = ", "), "]}"),
               file.path(path, .sealroom_types_file), useBytes = TRUE)
    invisible(NULL)
}
