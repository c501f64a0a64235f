# Minimal JSON writer with full precision, shared by the reference scripts in this folder.
#
# Usage (from the repository root):
#     source(file.path("tests", "stats", "reference", "json_writer.R"))
#     writeLines(to_json(flag_nonfinite(ref)), out_path, useBytes = TRUE)
#
# Why not jsonlite: it writes at most 15 significant digits, and the parity tests need the
# exact IEEE double R held. Conventions:
#   * every double is written with 17 significant digits ("%.17g");
#   * a non-finite value (NaN, Inf, -Inf, NA) is written as null, and flag_nonfinite() adds a
#     sibling key "<name>_nonfinite" saying which ("NaN", "Inf", "-Inf", "NA"; for arrays one
#     entry per element, null where the element is finite);
#   * a vector of length 1 is written as a scalar unless wrapped in arr() (or num());
#   * a named list is an object, an unnamed list an array; NULL is null.
# Sourced by make_reference.R and make_reference_engine.R.

arr <- function(x) {
  class(x) <- c("json_array", class(x))
  x
}

num_str <- function(x) {
  ifelse(is.finite(x), sprintf("%.17g", x), "null")
}

json_str <- function(s) {
  s <- gsub("\\\\", "\\\\\\\\", s)
  s <- gsub("\"", "\\\\\"", s)
  s <- gsub("\n", "\\\\n", s)
  s <- gsub("\t", "\\\\t", s)
  paste0("\"", s, "\"")
}

nonfinite_tag <- function(x) {
  ifelse(is.na(x) & !is.nan(x), "NA",
         ifelse(is.nan(x), "NaN", ifelse(x > 0, "Inf", "-Inf")))
}

# add "<name>_nonfinite" siblings for numeric leaves that hold non-finite values
flag_nonfinite <- function(x) {
  if (!is.list(x)) return(x)
  nms <- names(x)
  res <- lapply(x, flag_nonfinite)
  if (!is.null(nms)) {
    for (nm in nms) {
      v <- x[[nm]]
      if (is.numeric(v) && !is.list(v) && any(!is.finite(v))) {
        tags <- ifelse(is.finite(v), NA_character_, nonfinite_tag(v))
        if (inherits(v, "json_array") || length(v) != 1L) {
          res[[paste0(nm, "_nonfinite")]] <- arr(tags)
        } else {
          res[[paste0(nm, "_nonfinite")]] <- tags
        }
      }
    }
  }
  res
}

to_json <- function(x, indent = 0L) {
  pad <- strrep(" ", indent + 2L)
  end <- strrep(" ", indent)
  is_arr <- inherits(x, "json_array")
  if (is.null(x)) return("null")
  if (is.list(x)) {
    if (length(x) == 0L) return(if (is.null(names(x))) "[]" else "{}")
    items <- vapply(x, to_json, character(1), indent = indent + 2L)
    if (!is.null(names(x))) {
      items <- paste0(json_str(names(x)), ": ", items)
      return(paste0("{\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", end, "}"))
    }
    return(paste0("[\n", pad, paste(items, collapse = paste0(",\n", pad)), "\n", end, "]"))
  }
  if (is.factor(x)) x <- as.character(x)
  if (is.logical(x)) {
    vals <- ifelse(is.na(x), "null", ifelse(x, "true", "false"))
  } else if (is.integer(x)) {
    vals <- ifelse(is.na(x), "null", as.character(x))
  } else if (is.numeric(x)) {
    vals <- num_str(unclass(x))
  } else {
    vals <- ifelse(is.na(x), "null", json_str(as.character(x)))
  }
  if (length(vals) == 1L && !is_arr) return(vals)
  paste0("[", paste(vals, collapse = ", "), "]")
}

# a numeric vector, always written as a JSON array, without names
num <- function(x) arr(as.numeric(unname(x)))

# write a reference list as JSON (non-finite values flagged) to path
write_reference_json <- function(ref, path) {
  writeLines(to_json(flag_nonfinite(ref)), path, useBytes = TRUE)
  invisible(path)
}
