# Pinned metafor 3.8 values for the influence and cumulative diagnostics beyond
# engine_reference.json: influence() of meta-regressions (one and two moderators), of a
# meta-regression where deleting one study leaves a coefficient unidentified (metafor: an NA
# row), of k = 2 studies (every deletion fit has one study) and of Knapp-Hartung with the ad
# hoc floor (test = "adhoc"); cumul() under test = "adhoc" and on k = 2.
#
# Run from the repository root:
#     Rscript tests/stats/reference/make_reference_diagnostics.R
# It writes tests/stats/reference/diagnostics_reference.json (the tests read only the JSON).
# JSON conventions as in json_writer.R. Iterative fits use the tight control of
# make_reference_engine.R and are checked to be the maximum of the restricted likelihood.

suppressPackageStartupMessages(library(metafor))

source(file.path("tests", "stats", "reference", "json_writer.R"))

out_path <- file.path("tests", "stats", "reference", "diagnostics_reference.json")

CTRL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
CTRL_TXT <- "control=list(threshold=1e-12, tol=1e-12, maxiter=10000)"

# REML profile log-likelihood with model matrix X (up to a constant)
profile_ll <- function(tau2, yi, vi, X) {
  w <- 1 / (vi + tau2)
  XtWX <- crossprod(X, w * X)
  b <- solve(XtWX, crossprod(X, w * yi))
  e <- yi - X %*% b
  -0.5 * sum(log(vi + tau2)) - 0.5 * sum(w * e^2) - 0.5 * c(determinant(XtWX)$modulus)
}
check_reml <- function(tau2, yi, vi, X, label) {
  if (length(yi) <= ncol(X)) return(invisible())
  opt <- optimize(profile_ll, c(0, 100), yi = yi, vi = vi, X = X, maximum = TRUE, tol = 1e-14)
  best <- max(opt$objective, profile_ll(0, yi, vi, X))
  if (best - profile_ll(tau2, yi, vi, X) > 1e-9) stop(label, ": tau2 is not the REML optimum")
}

bcg <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)

sets <- list(
  bcg = list(yi = bcg$yi, vi = bcg$vi, mods = list(),
             source = "metadat::dat.bcg, escalc(measure=\"RR\", ai=tpos, bi=tneg, ci=cpos, di=cneg)"),
  bcg_ablat = list(yi = bcg$yi, vi = bcg$vi, mods = list(ablat = bcg$ablat),
                   source = "metadat::dat.bcg RR, moderator ablat"),
  bcg_ablat_year = list(yi = bcg$yi, vi = bcg$vi,
                        mods = list(ablat = bcg$ablat, year = bcg$year),
                        source = "metadat::dat.bcg RR, moderators ablat and year"),
  # the 6th study is the only one with group = 1: without it the group coefficient is not
  # identified and metafor's influence() gives NA for that row
  single_in_group = list(yi = c(0.10, 0.25, 0.32, 0.05, 0.18, 0.90),
                         vi = c(0.020, 0.030, 0.025, 0.040, 0.050, 0.030),
                         mods = list(group = c(0, 0, 0, 0, 0, 1)),
                         source = "synthetic: k = 6, binary moderator with one study in group 1"),
  k2 = list(yi = c(0.12, 0.91), vi = c(0.04, 0.09), mods = list(),
            source = "synthetic: k = 2, heterogeneous")
)

model_matrix <- function(s) {
  X <- matrix(1, length(s$yi), 1)
  if (length(s$mods)) X <- cbind(X, do.call(cbind, unname(s$mods)))
  X
}

fit_of <- function(s, method, test) {
  if (length(s$mods)) {
    rma(yi = s$yi, vi = s$vi, mods = do.call(cbind, s$mods), method = method, test = test,
        control = CTRL)
  } else {
    rma(yi = s$yi, vi = s$vi, method = method, test = test, control = CTRL)
  }
}

inputs_of <- function(s) c(list(yi = num(s$yi), vi = num(s$vi)), lapply(s$mods, num))

# -- influence ------------------------------------------------------------------------------

infl_specs <- list(
  c("bcg_ablat", "REML", "z"), c("bcg_ablat", "REML", "knha"), c("bcg_ablat", "DL", "z"),
  c("bcg_ablat", "DL", "knha"), c("bcg_ablat_year", "REML", "z"),
  c("bcg_ablat_year", "DL", "knha"), c("bcg", "REML", "adhoc"), c("bcg_ablat", "REML", "adhoc"),
  c("single_in_group", "REML", "z"), c("k2", "REML", "z"), c("k2", "DL", "knha"))

infl_cases <- list()
for (sp in infl_specs) {
  s <- sets[[sp[1]]]
  fit <- suppressWarnings(fit_of(s, sp[2], sp[3]))  # k = 2 with knha warns (1 df)
  X <- model_matrix(s)
  if (sp[2] == "REML") {
    check_reml(fit$tau2, s$yi, s$vi, X, paste(sp, collapse = "-"))
  }
  inf <- influence(fit)
  ii <- inf$inf
  if (sp[2] == "REML") {
    for (i in seq_len(fit$k)) {
      if (is.finite(ii$tau2.del[i])) {
        check_reml(ii$tau2.del[i], s$yi[-i], s$vi[-i], X[-i, , drop = FALSE],
                   paste(c(sp, "without", i), collapse = "-"))
      }
    }
  }
  infl_cases[[length(infl_cases) + 1L]] <- list(
    id = paste(sp, collapse = "-"), dataset = sp[1], method = sp[2], test = sp[3],
    mods = if (length(s$mods)) arr(names(s$mods)) else list(),
    call = sprintf("influence(rma(yi, vi%s, method=\"%s\", test=\"%s\", %s))",
                   if (length(s$mods)) ", mods=cbind(<mods>)" else "", sp[2], sp[3], CTRL_TXT),
    fit = list(estimate = c(fit$b)[1], tau2 = fit$tau2, s2w = fit$s2w, p = fit$p, k = fit$k),
    out = list(rstudent = num(ii$rstudent), dffits = num(ii$dffits), cook_d = num(ii$cook.d),
               cov_r = num(ii$cov.r), tau2_del = num(ii$tau2.del), qe_del = num(ii$QE.del),
               hat = num(ii$hat), weight = num(ii$weight), inf = arr(ii$inf),
               is_infl = arr(inf$is.infl),
               dfbetas = lapply(unclass(inf$dfbs)[seq_len(fit$p)], num)))
}

# -- cumul ----------------------------------------------------------------------------------

cumul_specs <- list(c("bcg", "REML", "adhoc"), c("bcg", "DL", "adhoc"), c("k2", "REML", "knha"))
cumul_cases <- list()
for (sp in cumul_specs) {
  s <- sets[[sp[1]]]
  fit <- suppressWarnings(fit_of(s, sp[2], sp[3]))
  cu <- cumul(fit)
  if (sp[2] == "REML") {
    for (i in seq_along(cu$ids)) {
      check_reml(cu$tau2[i], s$yi[seq_len(i)], s$vi[seq_len(i)], matrix(1, i, 1),
                 paste(c(sp, "step", i), collapse = "-"))
    }
  }
  stat <- if (is.null(cu$zval)) cu$tval else cu$zval
  cumul_cases[[length(cumul_cases) + 1L]] <- list(
    id = paste(sp, collapse = "-"), dataset = sp[1], method = sp[2], test = sp[3],
    study_sequence = num(cu$ids),
    call = sprintf("cumul(rma(yi, vi, method=\"%s\", test=\"%s\", %s))", sp[2], sp[3], CTRL_TXT),
    out = list(estimate = num(cu$estimate), se = num(cu$se),
               stat_name = if (is.null(cu$zval)) "tval" else "zval", stat = num(stat),
               pval = num(cu$pvals), ci_low = num(cu$ci.lb), ci_high = num(cu$ci.ub),
               q = num(cu$Q), q_pval = num(cu$Qp), tau2 = num(cu$tau2), i2 = num(cu$I2),
               h2 = num(cu$H2)))
}

ref <- list(
  meta = list(
    r_version = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    generated_by = "tests/stats/reference/make_reference_diagnostics.R",
    number_format = "%.17g; non-finite written as null with a <name>_nonfinite sibling",
    rma_control = CTRL_TXT,
    name_map = "cook_d=cook.d, cov_r=cov.r, tau2_del=tau2.del, qe_del=QE.del, dfbetas=dfbs (one array per coefficient), is_infl=is.infl; test=\"adhoc\" is Knapp-Hartung with s2w floored at 1"),
  datasets = lapply(sets, function(s) c(list(source = s$source), inputs_of(s))),
  influence = infl_cases,
  cumul = cumul_cases)

write_reference_json(ref, out_path)
cat("wrote", out_path, ":", length(infl_cases), "influence,", length(cumul_cases), "cumul cases\n")
