# Pinned reference values from R metafor 3.8 (and lme4) for the "engine" parity tests of
# blastic_meta: equal-effects fits, GLMM meta-regression of proportions, escalc ROMC/MN,
# influence diagnostics, cumulative meta-analysis and lme4's study-order sensitivity.
#
# Run from the repository root:
#     Rscript tests/stats/reference/make_reference_engine.R
# It writes tests/stats/reference/engine_reference.json. The tests read only that JSON.
# The JSON conventions are those of tests/stats/reference/make_reference.R (see json_writer.R):
# 17 significant digits, non-finite values as null with a "<name>_nonfinite" sibling, every
# case with an "id", the R "call" as text and its inputs (or the name of a set in "datasets").
# Iterative rma.uni fits use control=list(threshold=1e-12, tol=1e-12, maxiter=10000), so the
# pinned values are the true optimum; rma.glmm fits use metafor's (and lme4's) defaults, as a
# user would get them. See README_engine.md for what is pinned and the tolerances.

suppressPackageStartupMessages({
  library(metafor)
  library(lme4)
})

source(file.path("tests", "stats", "reference", "json_writer.R"))

SEED <- 20261129L
set.seed(SEED)

out_path <- file.path("tests", "stats", "reference", "engine_reference.json")

CTRL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
CTRL_TXT <- "control=list(threshold=1e-12, tol=1e-12, maxiter=10000)"

# Run expr, muffle the warnings whose message matches one of `expected` (regular expressions)
# and return the value together with the text of every warning seen (expected or not), so the
# JSON documents what metafor said. Unexpected warnings are not muffled, so they still print.
with_warnings <- function(expr, expected = character(0)) {
  seen <- character(0)
  value <- withCallingHandlers(expr, warning = function(w) {
    msg <- conditionMessage(w)
    seen <<- c(seen, msg)
    if (length(expected) && any(vapply(expected, grepl, logical(1), x = msg))) {
      invokeRestart("muffleWarning")
    }
  })
  list(value = value, warnings = seen)
}

# ---------------------------------------------------------------------------------------------
# Data sets (yi, vi) for the rma.uni based sections (ee, influence, cumul)

datasets <- list()
add_dataset <- function(id, yi, vi, source, call) {
  stopifnot(length(yi) == length(vi), all(is.finite(yi)), all(is.finite(vi)), all(vi > 0))
  datasets[[id]] <<- list(source = source, call = call, k = length(yi),
                          yi = num(yi), vi = num(vi))
}
yi_of <- function(ds) as.numeric(datasets[[ds]]$yi)
vi_of <- function(ds) as.numeric(datasets[[ds]]$vi)

es <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
add_dataset("bcg_RR", es$yi, es$vi, "metadat::dat.bcg",
            "escalc(measure=\"RR\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)")
es <- escalc(measure = "MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
             n2i = n2i, data = dat.normand1999)
add_dataset("normand1999_MD", es$yi, es$vi, "metadat::dat.normand1999",
            "escalc(measure=\"MD\", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)")
es <- escalc(measure = "PLO", xi = xi, ni = ni, data = dat.pritz1997)
add_dataset("pritz1997_PLO", es$yi, es$vi, "metadat::dat.pritz1997",
            "escalc(measure=\"PLO\", xi=xi, ni=ni, data=dat.pritz1997)")
es <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = dat.molloy2014)
add_dataset("molloy2014_ZCOR", es$yi, es$vi, "metadat::dat.molloy2014",
            "escalc(measure=\"ZCOR\", ri=ri, ni=ni, data=dat.molloy2014)")

# synthetic edge cases (values written out, so they do not depend on the seed)
add_dataset("synthetic_k2", c(0.12, 0.91), c(0.04, 0.09),
            "synthetic: k = 2, heterogeneous", "values stored")
add_dataset("synthetic_identical", rep(0.3, 5), c(0.01, 0.02, 0.05, 0.1, 0.2),
            "synthetic: identical effects (Q = 0)", "values stored")
add_dataset("synthetic_identical_zero", rep(0, 4), c(0.01, 0.03, 0.05, 0.1),
            "synthetic: identical effects equal to 0 (Q = 0 and estimate 0)", "values stored")
add_dataset("synthetic_q_below_df", c(0.20, 0.21, 0.19, 0.23, 0.18, 0.20),
            c(0.03, 0.05, 0.02, 0.04, 0.06, 0.03),
            "synthetic: Q < df (the set of make_reference.R)", "values stored")
add_dataset("synthetic_one_precise", c(0.42, 0.10, 0.65, -0.15, 0.90, 0.30),
            c(1e-5, 0.04, 0.06, 0.09, 0.12, 0.05),
            "synthetic: one very precise study (vi = 1e-5) among ordinary ones",
            "values stored")
add_dataset("synthetic_k5", c(0.10, 0.25, 0.32, 1.20, 0.18), c(0.020, 0.030, 0.025, 0.040, 0.050),
            "synthetic: k = 5 with one outlying study (4th)", "values stored")

# ---------------------------------------------------------------------------------------------
# Sanity check of iterative fits: a REML/ML tau2 must be the maximum of the (restricted)
# profile log-likelihood found by a direct one-dimensional search (as in make_reference.R).

profile_ll <- function(tau2, yi, vi, reml) {
  w <- 1 / (vi + tau2)
  b <- sum(w * yi) / sum(w)
  ll <- -0.5 * sum(log(vi + tau2)) - 0.5 * sum(w * (yi - b)^2)
  if (reml) ll <- ll - 0.5 * log(sum(w))
  ll
}
check_tau2 <- function(tau2, method, yi, vi, label) {
  if (!(method %in% c("ML", "REML")) || length(yi) < 2) return(invisible())
  reml <- method == "REML"
  opt <- optimize(profile_ll, c(0, max(100, 10 * tau2 + 10 * var(yi))), yi = yi, vi = vi,
                  reml = reml, maximum = TRUE, tol = 1e-14)
  best <- max(opt$objective, profile_ll(0, yi, vi, reml))
  if (best - profile_ll(tau2, yi, vi, reml) > 1e-9) {
    stop(sprintf("%s: metafor tau2 %.12g is not the optimum", label, tau2))
  }
}
check_optimum <- function(fit, yi, vi, label) check_tau2(fit$tau2, fit$method, yi, vi, label)

KNHA_EE_WARNING <- "Knapp & Hartung method is not meant to be used"

# =============================================================================================
# a. ee: equal-effects fits, test = "z" and "knha" (and method = "FE" once)

ee_outputs <- function(fit) {
  list(
    k = fit$k, estimate = c(fit$b), se = fit$se,
    stat_name = if (fit$test == "z") "zval" else "tval", stat = fit$zval,
    stat_df = if (fit$test == "z") NULL else fit$ddf,
    pval = fit$pval, ci_low = fit$ci.lb, ci_high = fit$ci.ub,
    q = fit$QE, q_df = fit$k - fit$p, q_pval = fit$QEp,
    i2 = fit$I2, h2 = fit$H2,
    # s2w: the Knapp-Hartung factor multiplying the variance of the estimate (1 under "z")
    s2w = fit$s2w,
    weights = num(weights(fit)))
}

ee_cases <- list()
ee_sets <- c("bcg_RR", "normand1999_MD", "pritz1997_PLO", "molloy2014_ZCOR", "synthetic_k2",
             "synthetic_identical", "synthetic_identical_zero", "synthetic_q_below_df",
             "synthetic_one_precise")
for (ds in ee_sets) {
  for (t in c("z", "knha")) {
    # metafor warns that Knapp-Hartung is "not meant" for EE models; the fit is still made
    r <- with_warnings(rma(yi = yi_of(ds), vi = vi_of(ds), method = "EE", test = t),
                       KNHA_EE_WARNING)
    ee_cases[[length(ee_cases) + 1L]] <- list(
      id = paste(ds, "EE", t, sep = "-"), dataset = ds, method = "EE", test = t,
      call = sprintf("rma(yi, vi, method=\"EE\", test=\"%s\"); weights(fit)", t),
      warnings = arr(r$warnings), out = ee_outputs(r$value))
  }
}
# method = "FE" is an alias of "EE" in metafor 3.8 (only the label differs)
for (t in c("z", "knha")) {
  ds <- "bcg_RR"
  fe <- with_warnings(rma(yi = yi_of(ds), vi = vi_of(ds), method = "FE", test = t),
                      KNHA_EE_WARNING)
  ee <- with_warnings(rma(yi = yi_of(ds), vi = vi_of(ds), method = "EE", test = t),
                      KNHA_EE_WARNING)
  out <- ee_outputs(fe$value)
  same <- identical(out, ee_outputs(ee$value))
  if (!same) stop("method=\"FE\" differs from method=\"EE\"")
  ee_cases[[length(ee_cases) + 1L]] <- list(
    id = paste(ds, "FE", t, sep = "-"), dataset = ds, method = "FE", test = t,
    call = sprintf("rma(yi, vi, method=\"FE\", test=\"%s\"); weights(fit)", t),
    identical_to_EE = same, warnings = arr(fe$warnings), out = out)
}

# =============================================================================================
# b. glmm_mods: rma.glmm(measure="PLO", method="ML") with and without moderators

# All numbers of one rma.glmm fit. retfit=TRUE (an argument metafor documents in ?rma.glmm's
# "..." and returns as res.FE / res.QE / res.ML) exposes the glm and glmer objects, so the
# log-likelihood pieces can be pinned separately.
glmm_outputs <- function(fit) {
  # the identities stated in notes_glmm, checked on every fit
  xi <- fit$outdat$xi
  ni <- xi + fit$outdat$mi
  ll_cond <- sum(dbinom(xi, ni, fitted(fit$res.ML), log = TRUE))
  if (abs(ll_cond - c(logLik(fit))) > 1e-8 * abs(ll_cond)) stop("logLik(fit) is not conditional")
  if (abs(fit$QE.LRT - max(0, deviance(fit$res.FE))) > 1e-10 * max(1, fit$QE.LRT)) {
    stop("QE.LRT is not the deviance of the fixed-effects glm")
  }
  cf <- list(name = arr(rownames(fit$beta)), estimate = num(fit$beta), se = num(fit$se),
             zval = num(fit$zval), pval = num(fit$pval), ci_low = num(fit$ci.lb),
             ci_high = num(fit$ci.ub))
  list(
    k = fit$k, p = fit$p, coefficients = cf,
    qm = fit$QM, qm_df = fit$QMdf[1], qm_pval = fit$QMp,
    tau2 = fit$tau2, i2 = fit$I2, h2 = fit$H2, vt = fit$vt,
    qe_wld = fit$QE.Wld, qe_wld_pval = fit$QEp.Wld,
    qe_lrt = fit$QE.LRT, qe_lrt_pval = fit$QEp.LRT, qe_df = fit$QE.df,
    # what rma.glmm reports as the log-likelihood (logLik(fit), fit$fit.stats["ll", "ML"]):
    # ll.QE - deviance(glmer fit) / 2, see notes_glmm
    loglik = c(logLik(fit)),
    loglik_pieces = list(
      saturated_glm_loglik = c(logLik(fit$res.QE)),
      glmer_deviance = deviance(fit$res.ML),
      glmer_loglik = c(logLik(fit$res.ML)),
      fe_glm_loglik = c(logLik(fit$res.FE)),
      marginal_loglik = c(logLik(fit$res.ML)) + c(logLik(fit$res.QE))),
    deviance = fit$fit.stats["dev", "ML"], aic = fit$fit.stats["AIC", "ML"],
    bic = fit$fit.stats["BIC", "ML"], aicc = fit$fit.stats["AICc", "ML"])
}

# Closed forms that metafor's heterogeneity numbers reduce to (see notes_glmm); stored so the
# Python tests can see how far R's glm-based values are from them.
glmm_closed_forms <- function(xi, ni, X) {
  es <- escalc(measure = "PLO", xi = xi, ni = ni)  # add=1/2, to="only0" (metafor's default)
  W <- diag(1 / as.numeric(es$vi), length(xi))
  P <- W - W %*% X %*% solve(crossprod(X, W %*% X), crossprod(X, W))
  # Wald: EE Q_E of the raw logits over studies with 0 < xi < ni, vi = 1/xi + 1/(ni - xi)
  ok <- xi > 0 & xi < ni
  y <- qlogis(xi[ok] / ni[ok])
  w <- 1 / (1 / xi[ok] + 1 / (ni[ok] - xi[ok]))
  Xo <- X[ok, , drop = FALSE]
  b <- solve(crossprod(Xo, w * Xo), crossprod(Xo, w * y))
  list(vt = (nrow(X) - ncol(X)) / sum(diag(P)), escalc_vi = num(es$vi),
       qe_wld_raw_logit_q = sum(w * (y - Xo %*% b)^2), n_separated = sum(!ok))
}

fit_glmm <- function(d, mods = NULL, control = list()) {
  with_warnings(
    if (is.null(mods)) {
      rma.glmm(measure = "PLO", xi = xi, ni = ni, data = d, method = "ML",
               control = control, retfit = TRUE)
    } else {
      rma.glmm(measure = "PLO", xi = xi, ni = ni, mods = mods, data = d, method = "ML",
               control = control, retfit = TRUE)
    })
}

# moderator columns as stored: character moderators as strings, numeric as numbers
mod_values <- function(v) if (is.numeric(v)) num(v) else arr(as.character(v))

pr <- dat.pritz1997
pr_mod <- rbinom(nrow(pr), 1, 0.5)  # synthetic binary moderator (seeded, stored)
glmm_sets <- list(
  pritz1997_synthetic_mod = list(
    d = data.frame(xi = pr$xi, ni = pr$ni, group = pr_mod), mods = ~group, mod = "group",
    source = "metadat::dat.pritz1997 with a synthetic binary moderator 'group' (rbinom(14, 1, 0.5) after set.seed(20261129); stored)"),
  debruin2009_ethnicity = list(
    d = dat.debruin2009[, c("xi", "ni", "ethnicity")], mods = ~ethnicity, mod = "ethnicity",
    source = "metadat::dat.debruin2009 (xi/ni adherent patients), moderator ethnicity (caucasian / other)"),
  debruin2009_scq = list(
    d = dat.debruin2009[, c("xi", "ni", "scq")], mods = ~scq, mod = "scq",
    source = "metadat::dat.debruin2009, continuous moderator scq (standard-care quality); metafor standardises it before calling glmer (control scaleX=TRUE) and back-transforms the coefficients"),
  hannum2020_objectivity = list(
    d = dat.hannum2020[, c("xi", "ni", "objectivity")], mods = ~objectivity,
    mod = "objectivity",
    source = "metadat::dat.hannum2020 (olfactory loss in COVID-19, k = 35), moderator objectivity (Objective / Subjective)"),
  zero_events = list(
    d = data.frame(xi = c(0, 2, 5, 1, 9, 0, 3, 7), ni = c(12, 25, 31, 18, 40, 9, 30, 28),
                   group = c(0, 0, 0, 0, 1, 1, 1, 1)),
    mods = ~group, mod = "group",
    source = "synthetic: two 0-event studies (one per group), binary moderator 'group'"),
  lesion_k4 = list(
    d = data.frame(xi = c(21, 17, 8, 2), ni = c(82, 105, 64, 55),
                   lesion = c("A", "A", "B", "B")),
    mods = ~lesion, mod = "lesion",
    source = "synthetic: k = 4, binary lesion type (A: 21/82, 17/105; B: 8/64, 2/55)")
)

glmm_cases <- list()
for (gs in names(glmm_sets)) {
  s <- glmm_sets[[gs]]
  d <- s$d
  mods_txt <- paste(deparse(s$mods), collapse = "")
  full <- fit_glmm(d, s$mods)
  red <- fit_glmm(d)
  ff <- full$value
  rf <- red$value
  # anova() refuses rma.glmm objects in metafor 3.8 ("Method not available for objects of
  # class rma.glmm"), so the LRT is computed from the two ML fits' log-likelihoods
  anova_msg <- tryCatch({
    anova(ff, rf)
    "anova() ran"
  }, error = function(e) conditionMessage(e))
  lrt_df <- ff$p - rf$p
  lrt_rma <- 2 * (c(logLik(ff)) - c(logLik(rf)))
  lrt_lme4 <- 2 * (c(logLik(ff$res.ML)) - c(logLik(rf$res.ML)))
  X <- model.matrix(s$mods, d)
  for (chk in list(list(ff, X), list(rf, X[, 1, drop = FALSE]))) {
    if (abs(chk[[1]]$vt - glmm_closed_forms(d$xi, d$ni, chk[[2]])$vt) > 1e-12 * chk[[1]]$vt) {
      stop(gs, ": vt is not (k - p) / tr(P)")
    }
  }
  glmm_cases[[length(glmm_cases) + 1L]] <- list(
    id = gs, source = s$source, mods = mods_txt,
    call = sprintf("full <- rma.glmm(measure=\"PLO\", xi=xi, ni=ni, mods=%s, data=d, method=\"ML\"); reduced <- rma.glmm(measure=\"PLO\", xi=xi, ni=ni, data=d, method=\"ML\") (nAGQ=7, metafor/lme4 default control)", mods_txt),
    inputs = c(list(xi = num(d$xi), ni = num(d$ni)),
               setNames(list(mod_values(d[[s$mod]])), s$mod)),
    model_matrix = lapply(as.data.frame(X), num),
    full = c(glmm_outputs(ff), list(warnings = arr(full$warnings))),
    reduced = c(glmm_outputs(rf), list(warnings = arr(red$warnings))),
    lrt = list(
      statistic = lrt_rma, df = lrt_df,
      pval = pchisq(lrt_rma, df = lrt_df, lower.tail = FALSE),
      lrt_call = "2 * (logLik(full) - logLik(reduced)); pchisq(stat, df = full$p - reduced$p, lower.tail = FALSE). logLik() of an rma.glmm fit is ll.QE - deviance(glmer)/2 (see notes_glmm); anova(full, reduced) is not available for rma.glmm in metafor 3.8",
      anova_error = anova_msg),
    lrt_marginal = list(
      statistic = lrt_lme4, df = lrt_df,
      pval = pchisq(lrt_lme4, df = lrt_df, lower.tail = FALSE),
      lrt_call = "2 * (logLik(full$res.ML) - logLik(reduced$res.ML)) with retfit=TRUE: lme4's 7-point AGQ marginal log-likelihoods (the constant ll.QE cancels); pchisq(stat, df = full$p - reduced$p, lower.tail = FALSE)"),
    closed_forms = list(full = glmm_closed_forms(d$xi, d$ni, X),
                        reduced = glmm_closed_forms(d$xi, d$ni, X[, 1, drop = FALSE])))
}

# =============================================================================================
# c. escalc_romc_mn: ratio of means for pre/post (ROMC) and raw means (MN)

# Becker (1988) data as tabulated by Morris (2008, Table 5), copied from make_reference.R
# (m1i = post, m2i = pre)
morris <- list(
  treatment = data.frame(m_pre = c(30.6, 23.5, 0.5, 53.4, 35.6),
                         m_post = c(38.5, 26.8, 0.7, 75.9, 36.0),
                         sd_pre = c(15.0, 3.1, 0.1, 14.5, 4.7),
                         sd_post = c(11.6, 4.1, 0.1, 4.4, 4.6),
                         ni = c(20, 50, 9, 10, 14),
                         ri = c(.47, .64, .77, .89, .44)),
  control = data.frame(m_pre = c(23.1, 24.9, 0.6, 55.7, 34.8),
                       m_post = c(19.7, 25.3, 0.6, 60.7, 33.4),
                       sd_pre = c(13.8, 4.1, 0.2, 17.3, 3.1),
                       sd_post = c(14.8, 3.3, 0.2, 17.9, 6.9),
                       ni = c(20, 42, 9, 11, 14),
                       ri = c(.47, .64, .77, .89, .44)))
# synthetic pre/post: ri = 0, 0.8, a negative and a near-1 correlation, m1i < m2i
morris$synthetic <- data.frame(m_pre = c(10, 50, 2.5, 100, 7),
                               m_post = c(12, 45, 3.1, 130, 7),
                               sd_pre = c(3, 12, 0.8, 25, 2),
                               sd_post = c(4, 10, 1.1, 30, 2.5),
                               ni = c(15, 40, 8, 120, 25),
                               ri = c(0, 0.8, -0.3, 0.95, 0.5))

# ROMC and MN have no alternative variance estimator in metafor 3.8: escalc accepts any
# valid vtype and ignores it. Checked here against vtype="AV" and "HO".
check_vtype_ignored <- function(call_fn) {
  base <- call_fn("LS")
  for (v in c("AV", "HO")) {
    alt <- call_fn(v)
    if (!identical(as.numeric(base$vi), as.numeric(alt$vi))) stop("vtype changes vi")
  }
  TRUE
}

esc_cases <- list()
for (g in names(morris)) {
  d <- morris[[g]]
  src <- if (g == "synthetic") "synthetic pre/post data (values stored)" else
    sprintf("Morris (2008) Table 5 (Becker 1988), %s group", g)
  romc <- function(v) escalc(measure = "ROMC", m1i = m_post, m2i = m_pre, sd1i = sd_post,
                             sd2i = sd_pre, ni = ni, ri = ri, data = d, vtype = v)
  es <- romc("LS")
  esc_cases[[length(esc_cases) + 1L]] <- list(
    id = paste0(g, "_ROMC"), measure = "ROMC", source = src,
    call = "escalc(measure=\"ROMC\", m1i=m_post, m2i=m_pre, sd1i=sd_post, sd2i=sd_pre, ni=ni, ri=ri)",
    vtype = "LS", vtype_ignored = check_vtype_ignored(romc),
    inputs = list(m1i = num(d$m_post), m2i = num(d$m_pre), sd1i = num(d$sd_post),
                  sd2i = num(d$sd_pre), ni = num(d$ni), ri = num(d$ri)),
    yi = num(es$yi), vi = num(es$vi))
  for (tp in c("post", "pre")) {
    m <- d[[paste0("m_", tp)]]
    sdv <- d[[paste0("sd_", tp)]]
    mn <- function(v) escalc(measure = "MN", mi = m, sdi = sdv, ni = d$ni, vtype = v)
    es <- mn("LS")
    esc_cases[[length(esc_cases) + 1L]] <- list(
      id = paste0(g, "_", tp, "_MN"), measure = "MN", source = paste0(src, ", ", tp, "-test"),
      call = sprintf("escalc(measure=\"MN\", mi=m_%s, sdi=sd_%s, ni=ni)", tp, tp),
      vtype = "LS", vtype_ignored = check_vtype_ignored(mn),
      inputs = list(mi = num(m), sdi = num(sdv), ni = num(d$ni)),
      yi = num(es$yi), vi = num(es$vi))
  }
}
# MN edge cases: negative and zero means, a zero SD (vi = 0), n = 1
mn_edge <- list(mi = c(-3.5, 0, 12.25, 1e4), sdi = c(2, 1.5, 0, 300), ni = c(10, 1, 30, 250))
es <- escalc(measure = "MN", mi = mn_edge$mi, sdi = mn_edge$sdi, ni = mn_edge$ni)
esc_cases[[length(esc_cases) + 1L]] <- list(
  id = "synthetic_edge_MN", measure = "MN",
  source = "synthetic: negative and zero means, sdi = 0, ni = 1, mean 1e4",
  call = "escalc(measure=\"MN\", mi=mi, sdi=sdi, ni=ni)", vtype = "LS",
  vtype_ignored = check_vtype_ignored(function(v) escalc(measure = "MN", mi = mn_edge$mi,
                                                         sdi = mn_edge$sdi, ni = mn_edge$ni,
                                                         vtype = v)),
  inputs = lapply(mn_edge, num), yi = num(es$yi), vi = num(es$vi))

# =============================================================================================
# d. influence: influence(rma(yi, vi, method=M, test=T))

infl_cases <- list()
for (ds in c("bcg_RR", "normand1999_MD", "synthetic_k5")) {
  for (m in c("REML", "DL")) {
    for (t in c("z", "knha")) {
      fit <- rma(yi = yi_of(ds), vi = vi_of(ds), method = m, test = t, control = CTRL)
      check_optimum(fit, yi_of(ds), vi_of(ds), paste(ds, m, t))
      inf <- influence(fit)  # the leave-one-out refits reuse the fit's control and test
      ii <- inf$inf
      for (i in seq_len(fit$k)) {  # every leave-one-out REML refit is at its optimum too
        check_tau2(ii$tau2.del[i], m, yi_of(ds)[-i], vi_of(ds)[-i], paste(ds, m, t, "without", i))
      }
      infl_cases[[length(infl_cases) + 1L]] <- list(
        id = paste(ds, m, t, sep = "-"), dataset = ds, method = m, test = t,
        call = sprintf("influence(rma(yi, vi, method=\"%s\", test=\"%s\", %s))", m, t, CTRL_TXT),
        fit = list(estimate = c(fit$b), se = fit$se, tau2 = fit$tau2, q = fit$QE,
                   s2w = fit$s2w),
        out = list(rstudent = num(ii$rstudent), dffits = num(ii$dffits),
                   cook_d = num(ii$cook.d), cov_r = num(ii$cov.r),
                   tau2_del = num(ii$tau2.del), qe_del = num(ii$QE.del), hat = num(ii$hat),
                   weight = num(ii$weight), inf = arr(ii$inf), is_infl = arr(inf$is.infl),
                   dfbetas = num(inf$dfbs$intrcpt)))
    }
  }
}

# =============================================================================================
# e. cumul: cumulative meta-analysis in input order and with order = a permutation

# cumul()'s `order` is a sort key: metafor does order <- order(order), so passing a
# permutation p adds the studies in the sequence order(p) (the inverse permutation of p),
# i.e. the study with the smallest p[i] first. Both p and the resulting sequence are stored.
cumul_cases <- list()
cumul_perm <- list(bcg_RR = sample(datasets$bcg_RR$k), normand1999_MD = sample(datasets$normand1999_MD$k))
for (ds in c("bcg_RR", "normand1999_MD")) {
  for (ord in c("input", "permuted")) {
    for (m in c("REML", "DL")) {
      for (t in c("z", "knha")) {
        fit <- rma(yi = yi_of(ds), vi = vi_of(ds), method = m, test = t, control = CTRL)
        check_optimum(fit, yi_of(ds), vi_of(ds), paste(ds, m, t))
        if (ord == "input") {
          cu <- cumul(fit)
          ord_arg <- NULL
        } else {
          ord_arg <- cumul_perm[[ds]]
          cu <- cumul(fit, order = ord_arg)
          stopifnot(identical(as.integer(cu$ids), order(ord_arg)))  # order is a sort key
        }
        for (i in seq_along(cu$ids)) {  # every cumulative REML refit is at its optimum too
          sel <- cu$ids[seq_len(i)]
          check_tau2(cu$tau2[i], m, yi_of(ds)[sel], vi_of(ds)[sel], paste(ds, ord, m, t, "step", i))
        }
        stat <- if (is.null(cu$zval)) cu$tval else cu$zval
        cumul_cases[[length(cumul_cases) + 1L]] <- list(
          id = paste(ds, ord, m, t, sep = "-"), dataset = ds, method = m, test = t,
          order_arg = if (is.null(ord_arg)) NULL else num(ord_arg),
          study_sequence = num(cu$ids),
          call = sprintf("cumul(rma(yi, vi, method=\"%s\", test=\"%s\", %s)%s)", m, t, CTRL_TXT,
                         if (is.null(ord_arg)) "" else ", order=order_arg"),
          out = list(estimate = num(cu$estimate), se = num(cu$se),
                     stat_name = if (is.null(cu$zval)) "tval" else "zval", stat = num(stat),
                     pval = num(cu$pvals), ci_low = num(cu$ci.lb), ci_high = num(cu$ci.ub),
                     q = num(cu$Q), q_pval = num(cu$Qp), tau2 = num(cu$tau2),
                     i2 = num(cu$I2), h2 = num(cu$H2)))
      }
    }
  }
}

# =============================================================================================
# f. glmm_order: one GLMM in the original and in the reversed study order

# lme4's optimiser (bobyqa then Nelder-Mead, default tolerances) and its finite-difference
# Hessian depend on the row order, so R's own results change in the late digits. A third fit
# with a much tighter optimiser shows how far the default stops from the optimum.
TIGHT <- list(glmerCtrl = list(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
order_sets <- list(
  pritz1997 = list(d = data.frame(xi = pr$xi, ni = pr$ni), mods = NULL,
                   source = "metadat::dat.pritz1997"),
  hannum2020_objectivity = list(d = dat.hannum2020[, c("xi", "ni", "objectivity")],
                                mods = ~objectivity,
                                source = "metadat::dat.hannum2020, mods = ~objectivity"))
order_cases <- list()
for (os in names(order_sets)) {
  s <- order_sets[[os]]
  d <- s$d
  rev_idx <- rev(seq_len(nrow(d)))
  orig <- fit_glmm(d, s$mods)
  revd <- fit_glmm(d[rev_idx, , drop = FALSE], s$mods)
  tight <- fit_glmm(d, s$mods, TIGHT)
  o1 <- glmm_outputs(orig$value)
  o2 <- glmm_outputs(revd$value)
  o3 <- glmm_outputs(tight$value)
  mods_txt <- if (is.null(s$mods)) "none" else paste(deparse(s$mods), collapse = "")
  order_cases[[length(order_cases) + 1L]] <- list(
    id = os, source = s$source, mods = mods_txt,
    call = sprintf("rma.glmm(measure=\"PLO\", xi=xi, ni=ni%s, data=d, method=\"ML\") on d and on d[rev(seq_len(nrow(d))), ]; tight: the same on d with control=list(glmerCtrl=list(optimizer=\"bobyqa\", optCtrl=list(rhoend=1e-12, maxfun=1e5)))",
                   if (is.null(s$mods)) "" else paste0(", mods=", mods_txt)),
    inputs = c(list(xi = num(d$xi), ni = num(d$ni)),
               if (is.null(s$mods)) list() else list(objectivity = mod_values(d$objectivity))),
    original = c(o1, list(warnings = arr(orig$warnings))),
    reversed = c(o2, list(warnings = arr(revd$warnings))),
    tight_optimum = c(o3, list(warnings = arr(tight$warnings))),
    max_rel_diff_reversed = list(
      estimate = max(abs(o2$coefficients$estimate - o1$coefficients$estimate) /
                       pmax(abs(o1$coefficients$estimate), 1)),
      se = max(abs(o2$coefficients$se - o1$coefficients$se) / o1$coefficients$se),
      tau2 = abs(o2$tau2 - o1$tau2) / max(o1$tau2, 0.01)),
    max_rel_diff_tight = list(
      estimate = max(abs(o3$coefficients$estimate - o1$coefficients$estimate) /
                       pmax(abs(o1$coefficients$estimate), 1)),
      se = max(abs(o3$coefficients$se - o1$coefficients$se) / o1$coefficients$se),
      tau2 = abs(o3$tau2 - o1$tau2) / max(o1$tau2, 0.01)))
}

# =============================================================================================

notes_glmm <- list(
  scope = "rma.glmm(measure=\"PLO\", method=\"ML\", model=\"UM.FS\", package lme4, nAGQ=7) in metafor 3.8.1; read from print(metafor:::rma.glmm).",
  vt_and_i2 = "I2 = 100 * tau2 / (vt + tau2) and H2 = tau2 / vt + 1 (i2def = \"1\", the default). vt = (k - p) / tr(P) with P = W - W X (X'WX)^-1 X'W, W = diag(1/vi), X the model matrix of the fit INCLUDING the moderators (unscaled; p its number of columns). vi are the escalc variances of the observed logits: escalc(measure=\"PLO\", xi, mi = ni - xi, add=1/2, to=\"only0\", vtype=\"LS\") (rma.glmm's defaults), i.e. vi = 1/xi + 1/(ni - xi), with 1/2 added to xi and to ni - xi only in studies where one of them is 0 (vi = 1/(xi+1/2) + 1/(ni-xi+1/2)). Without moderators vt = (k - 1) sum(w) / (sum(w)^2 - sum(w^2)), w = 1/vi. With i2def=\"2\" (not the default) vt = 1/mean(w). tau2 is lme4's VarCorr of the study random intercept.",
  qe_wld = "QE.Wld: Wald test of the saturated model. metafor fits glm(cbind(xi, ni - xi) ~ -1 + X.QE, family=binomial) with X.QE = model.matrix(~ -1 + X.fit + study), X.fit the (scaleX-standardised) model matrix and study a factor with one level per study; the study dummies aliased with X.fit get NA and are dropped (coef/vcov with complete=FALSE). With b2 the remaining k - p study-dummy coefficients and V2 their block of vcov(), QE.Wld = b2' V2^-1 b2 (via chol2inv(chol(V2))), set to 0 if <= 0, df = k - p, p-value pchisq(QE.Wld, k - p, lower.tail=FALSE). No escalc add/to is involved (raw counts). It equals the equal-effects Q_E of the raw logits log(xi/(ni-xi)) with vi = 1/xi + 1/(ni-xi) regressed on X, over the studies with 0 < xi < ni: a study with 0 or ni events has a diverging glm coefficient (about +-25, se about 5e4) whose contribution is about 1e-9, not exactly 0, and it still counts in df = k - p. closed_forms.qe_wld_raw_logit_q holds that Q_E for each case.",
  qe_lrt = "QE.LRT = -2 (ll.FE - ll.QE), set to 0 if <= 0, df = k - p, p-value pchisq(QE.LRT, k - p, lower.tail=FALSE). ll.FE = logLik(glm(cbind(xi, ni - xi) ~ -1 + X.fit, family=binomial)) (the fixed-effects logistic regression on the raw counts, no random effect) and ll.QE = logLik of the saturated glm above = sum(dbinom(xi, ni, xi/ni, log=TRUE)); so QE.LRT is the residual deviance of the fixed-effects logistic regression, 2 sum[xi log(xi/(ni p_i)) + (ni-xi) log((ni-xi)/(ni (1-p_i)))] with p_i its fitted probabilities (0 log 0 = 0). No escalc add/to (raw counts).",
  loglik = "logLik(fit) = fit$fit.stats[\"ll\", \"ML\"] = ll.QE - deviance(res.ML)/2, where res.ML is the glmer fit and deviance() of a binomial glmer is the sum of squared deviance residuals at the conditional modes. This equals sum(dbinom(xi, ni, plogis(x_i'b + u_i), log=TRUE)) = sum(dbinom(xi, ni, fitted(res.ML), log=TRUE)) (checked by the script on every fit), the binomial log-likelihood CONDITIONAL on lme4's predicted random effects (conditional modes) u_i: it is neither lme4's logLik(res.ML) (loglik_pieces.glmer_loglik, the 7-point AGQ marginal log-likelihood relative to the saturated model, without binomial coefficients) nor the marginal log-likelihood with binomial coefficients (loglik_pieces.marginal_loglik = glmer_loglik + saturated_glm_loglik). deviance, AIC, BIC, AICc of fit.stats are built from this loglik (dev = -2 (loglik - ll.QE); parms = p + 1). tests/stats/reference/README.md calls this value 'lme4's log-likelihood'; it is lme4-derived but not logLik() of the glmer fit.",
  lrt = "metafor 3.8 has no anova() for rma.glmm (error 'Method not available for objects of class \"rma.glmm\"'). lrt: 2 (logLik(full) - logLik(reduced)) from the two rma.glmm ML fits, df = difference in p; because logLik() is the conditional quantity above this is not a true likelihood-ratio statistic (it can be negative). lrt_marginal: the same from lme4's logLik(res.ML), a proper LRT based on the AGQ marginal likelihoods.",
  qm = "QM: Wald test b[btt]' V[btt,btt]^-1 b[btt] with V = vcov(glmer fit) (lme4's Hessian-based covariance), btt = all coefficients but the intercept (the intercept itself when there are no moderators), chi-square with m = length(btt) df (test=\"z\"). Continuous moderators are standardised before glmer (control scaleX=TRUE; dummies are not) and b, V are back-transformed with the linear map of the scaling, so QM is invariant.",
  optimisation = "glmer with nAGQ=7 and lme4's default glmerControl (bobyqa, then Nelder_Mead); these stop about 5e-6 (relative) from the optimum in the estimates and the row order changes the late digits (see glmm_order)."
)

ref <- list(
  meta = list(
    r_version = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    lme4 = as.character(packageVersion("lme4")),
    metadat = as.character(packageVersion("metadat")),
    Matrix = as.character(packageVersion("Matrix")),
    generated_by = "tests/stats/reference/make_reference_engine.R",
    seed = SEED,
    number_format = "%.17g; non-finite written as null with a <name>_nonfinite sibling",
    rma_control = CTRL_TXT,
    name_map = "estimate=b, se=se, stat=zval or tval (stat_name says which), stat_df=ddf, pval=pval, ci_low=ci.lb, ci_high=ci.ub, q=QE, q_pval=QEp, i2=I2, h2=H2, weights=weights(fit) in percent; influence: cook_d=cook.d, cov_r=cov.r, tau2_del=tau2.del, qe_del=QE.del, dfbetas=dfbs$intrcpt; glmm: qe_wld=QE.Wld, qe_lrt=QE.LRT, qm=QM",
    notes_glmm = notes_glmm
  ),
  datasets = datasets,
  ee = ee_cases,
  glmm_mods = glmm_cases,
  escalc_romc_mn = esc_cases,
  influence = infl_cases,
  cumul = cumul_cases,
  glmm_order = order_cases
)

write_reference_json(ref, out_path)
cat("wrote", out_path, ":", length(ee_cases), "ee,", length(glmm_cases), "glmm_mods,",
    length(esc_cases), "escalc,", length(infl_cases), "influence,", length(cumul_cases),
    "cumul,", length(order_cases), "glmm_order cases\n")
