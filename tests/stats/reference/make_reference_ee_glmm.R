# Reference values from R metafor 3.8 for the parts of the equal-effects and GLMM fits that
# engine_reference.json does not pin: equal-effects meta-regression (R^2, QM, QE), the printed
# output of equal-effects fits and of rma.glmm fits (with and without moderators).
#
# Run from the repository root:
#     Rscript tests/stats/reference/make_reference_ee_glmm.R
# It writes tests/stats/reference/ee_glmm_reference.json (conventions of json_writer.R:
# 17 significant digits, non-finite values as null with a "<name>_nonfinite" sibling).
# Deterministic: no random numbers, no timings or paths in the output.

suppressPackageStartupMessages({
  library(metafor)
  library(lme4)
})

source(file.path("tests", "stats", "reference", "json_writer.R"))
out_path <- file.path("tests", "stats", "reference", "ee_glmm_reference.json")
options(useFancyQuotes = FALSE, width = 80)

KNHA_EE_WARNING <- "Knapp & Hartung method is not meant to be used"
quiet_knha <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    if (grepl(KNHA_EE_WARNING, conditionMessage(w))) invokeRestart("muffleWarning")
  })
}

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
sets <- list(
  bcg_RR = list(yi = as.numeric(bcg$yi), vi = as.numeric(bcg$vi), ablat = bcg$ablat,
                year = bcg$year, source = "metadat::dat.bcg, escalc(measure=\"RR\")"),
  synthetic_identical = list(yi = rep(0.3, 5), vi = c(0.01, 0.02, 0.05, 0.1, 0.2),
                             x = c(1, 2, 3, 4, 5),
                             source = "synthetic: identical effects (var(yi) = 0)"),
  synthetic_q_below_df = list(yi = c(0.20, 0.21, 0.19, 0.23, 0.18, 0.20),
                              vi = c(0.03, 0.05, 0.02, 0.04, 0.06, 0.03),
                              x = c(0, 1, 0, 1, 0, 1),
                              source = "synthetic: Q < df")
)

fit_ee <- function(s, mods, method, test) {
  quiet_knha(if (length(mods) == 0) {
    rma(yi = s$yi, vi = s$vi, method = method, test = test)
  } else {
    rma(yi = s$yi, vi = s$vi, mods = as.matrix(as.data.frame(s[mods])), method = method,
        test = test)
  })
}

# =============================================================================================
# ee_mods: equal-effects meta-regression
ee_mods <- list()
for (case in list(list("bcg_RR", c("ablat")), list("bcg_RR", c("ablat", "year")),
                  list("synthetic_identical", c("x")), list("synthetic_q_below_df", c("x")))) {
  ds <- case[[1]]
  mods <- case[[2]]
  for (t in c("z", "knha")) {
    f <- fit_ee(sets[[ds]], mods, "EE", t)
    ee_mods[[length(ee_mods) + 1L]] <- list(
      id = paste(ds, paste(mods, collapse = "_"), "EE", t, sep = "-"), dataset = ds,
      mods = arr(mods), method = "EE", test = t,
      call = sprintf("rma(yi, vi, mods=cbind(%s), method=\"EE\", test=\"%s\")",
                     paste(mods, collapse = ", "), t),
      out = list(k = f$k, p = f$p,
                 coefficients = list(estimate = num(f$beta), se = num(f$se),
                                     stat = num(f$zval), pval = num(f$pval),
                                     ci_low = num(f$ci.lb), ci_high = num(f$ci.ub)),
                 qm = f$QM, qm_df = arr(as.numeric(f$QMdf[!is.na(f$QMdf)])), qm_pval = f$QMp,
                 q = f$QE, q_df = f$k - f$p, q_pval = f$QEp, i2 = f$I2, h2 = f$H2,
                 r2 = f$R2, s2w = f$s2w))
  }
}

# =============================================================================================
# ee_print: capture.output(print(fit)) of equal-effects fits
ee_print <- list()
for (case in list(list("bcg_RR", character(0), "EE", "z"), list("bcg_RR", character(0), "EE", "knha"),
                  list("bcg_RR", character(0), "FE", "z"), list("bcg_RR", c("ablat"), "EE", "z"),
                  list("bcg_RR", c("ablat", "year"), "EE", "knha"),
                  list("synthetic_identical", character(0), "EE", "knha"),
                  list("synthetic_q_below_df", character(0), "EE", "z"))) {
  ds <- case[[1]]
  mods <- case[[2]]
  f <- fit_ee(sets[[ds]], mods, case[[3]], case[[4]])
  tag <- if (length(mods)) paste(mods, collapse = "_") else NULL
  ee_print[[length(ee_print) + 1L]] <- list(
    id = paste(c(ds, tag, case[[3]], case[[4]]), collapse = "-"), dataset = ds,
    mods = if (length(mods)) arr(mods) else NULL, method = case[[3]], test = case[[4]],
    call = "capture.output(print(fit))", text = arr(capture.output(print(f))))
}

# =============================================================================================
# glmm_print: capture.output(print(rma.glmm(measure="PLO", ...))) (nAGQ = 7, default control)
pr <- dat.pritz1997
glmm_sets <- list(
  pritz1997 = list(d = data.frame(xi = pr$xi, ni = pr$ni), mods = NULL),
  pritz1997_synthetic_mod = list(
    d = data.frame(xi = pr$xi, ni = pr$ni,
                   group = c(0, 1, 0, 0, 1, 1, 0, 1, 0, 1, 1, 1, 1, 1)), mods = ~group),
  debruin2009_scq = list(d = dat.debruin2009[, c("xi", "ni", "scq")], mods = ~scq),
  hannum2020_objectivity = list(d = dat.hannum2020[, c("xi", "ni", "objectivity")],
                                mods = ~objectivity),
  zero_events = list(
    d = data.frame(xi = c(0, 2, 5, 1, 9, 0, 3, 7), ni = c(12, 25, 31, 18, 40, 9, 30, 28),
                   group = c(0, 0, 0, 0, 1, 1, 1, 1)), mods = ~group)
)
glmm_print <- list()
for (id in names(glmm_sets)) {
  s <- glmm_sets[[id]]
  d <- s$d
  f <- if (is.null(s$mods)) {
    rma.glmm(measure = "PLO", xi = xi, ni = ni, data = d, method = "ML")
  } else {
    rma.glmm(measure = "PLO", xi = xi, ni = ni, mods = s$mods, data = d, method = "ML")
  }
  mod_cols <- setdiff(names(d), c("xi", "ni"))
  inputs <- list(xi = num(d$xi), ni = num(d$ni))
  for (m in mod_cols) {
    inputs[[m]] <- if (is.numeric(d[[m]])) num(d[[m]]) else arr(as.character(d[[m]]))
  }
  glmm_print[[length(glmm_print) + 1L]] <- list(
    id = id, mods = if (is.null(s$mods)) NULL else paste(deparse(s$mods), collapse = ""),
    inputs = inputs, model_matrix = lapply(as.data.frame(model.matrix(f)), num),
    call = "capture.output(print(rma.glmm(measure=\"PLO\", xi, ni, mods=, method=\"ML\")))",
    text = arr(capture.output(print(f))))
}

ref <- list(
  meta = list(r_version = R.version.string,
              metafor = as.character(packageVersion("metafor")),
              lme4 = as.character(packageVersion("lme4")),
              metadat = as.character(packageVersion("metadat")),
              generated_by = "tests/stats/reference/make_reference_ee_glmm.R",
              number_format = "%.17g; non-finite written as null with a <name>_nonfinite sibling",
              r2_ee = "R2 of an equal-effects meta-regression: max(0, 100 * adjusted R^2 of lm(yi ~ X, weights = 1/vi)), 0 when var(yi) = 0 (metafor 3.8 rma.uni)"),
  datasets = lapply(sets, function(s) {
    out <- lapply(s[setdiff(names(s), "source")], num)
    c(out, list(source = s$source))
  }),
  ee_mods = ee_mods,
  ee_print = ee_print,
  glmm_print = glmm_print)
write_reference_json(ref, out_path)
cat("wrote", out_path, ":", length(ee_mods), "ee_mods,", length(ee_print), "ee_print,",
    length(glmm_print), "glmm_print\n")
