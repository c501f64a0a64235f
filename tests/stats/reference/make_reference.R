# Pinned reference values from R metafor (and lme4) for the parity tests of blastic_meta.
#
# Run from the repository root:
#     Rscript tests/stats/reference/make_reference.R
# It writes tests/stats/reference/metafor_reference.json. The tests read only that JSON, never R.
#
# Conventions of the JSON:
#   * every double is written with 17 significant digits ("%.17g"), so it parses back to the
#     exact IEEE value R held;
#   * a non-finite value (NaN, Inf, -Inf, NA) is written as null, and a sibling key
#     "<name>_nonfinite" says which ("NaN", "Inf", "-Inf", "NA"; for arrays one entry per
#     element, null where the element is finite);
#   * "call" is the R call that produced the case, as text;
#   * iterative fits use control=list(threshold=1e-12, tol=1e-12, maxiter=10000) so that the
#     pinned values are the true optimum / root (metafor's defaults stop at 1e-5 or
#     .Machine$double.eps^0.25); the Q-profile CI uses confint(..., control=list(tol=1e-12)).
#     Every ML/REML fit is cross-checked against a direct optimisation of the (restricted)
#     log-likelihood and the script stops if they disagree.

suppressPackageStartupMessages({
  library(metafor)
  library(lme4)
})

set.seed(20261128)

out_path <- file.path("tests", "stats", "reference", "metafor_reference.json")

METHODS <- c("DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
TESTS <- c("z", "knha", "adhoc")
CTRL <- list(threshold = 1e-12, tol = 1e-12, maxiter = 10000)
CI_CTRL <- list(tol = 1e-12, maxiter = 10000, tau2.max = 1e6)

# The JSON writer (17 significant digits, non-finite values flagged) is shared with
# make_reference_engine.R.
source(file.path("tests", "stats", "reference", "json_writer.R"))

# ---------------------------------------------------------------------------------------------
# Data sets (yi, vi) used by the rma.uni grid. Each entry keeps its source and the escalc call.

datasets <- list()
add_dataset <- function(id, yi, vi, source, call, extra = list()) {
  stopifnot(length(yi) == length(vi), all(is.finite(yi)), all(is.finite(vi)), all(vi > 0))
  datasets[[id]] <<- c(list(source = source, call = call, k = length(yi),
                            yi = num(yi), vi = num(vi)), extra)
}

escalc_cases <- list()
add_escalc <- function(id, measure, source, call, inputs, es) {
  inputs <- lapply(inputs, num)
  escalc_cases[[length(escalc_cases) + 1L]] <<- list(
    id = id, measure = measure, source = source, call = call,
    inputs = inputs, yi = num(es$yi), vi = num(es$vi))
}

# --- escalc: two-group 2x2 tables on dat.bcg
bcg <- dat.bcg
for (m in c("OR", "RR", "RD")) {
  es <- escalc(measure = m, ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
  add_escalc(paste0("bcg_", m), m, "metadat::dat.bcg",
             sprintf("escalc(measure=\"%s\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)", m),
             list(ai = bcg$tpos, bi = bcg$tneg, ci = bcg$cpos, di = bcg$cneg), es)
}
es <- escalc(measure = "RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
add_dataset("bcg_RR", es$yi, es$vi, "metadat::dat.bcg",
            "escalc(measure=\"RR\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)",
            list(ablat = num(bcg$ablat), year = num(bcg$year), alloc = arr(bcg$alloc),
                 decade = arr(paste0(10 * (bcg$year %/% 10), "s"))))
es <- escalc(measure = "OR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
add_dataset("bcg_OR", es$yi, es$vi, "metadat::dat.bcg",
            "escalc(measure=\"OR\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)")
es <- escalc(measure = "RD", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = bcg)
add_dataset("bcg_RD", es$yi, es$vi, "metadat::dat.bcg",
            "escalc(measure=\"RD\", ai=tpos, bi=tneg, ci=cpos, di=cneg, data=dat.bcg)")

# --- escalc: ai, n1i, ci, n2i form with zero cells (dat.li2007 has single zeros,
#     dat.yusuf1985 table 6 has double zeros; rows with missing counts dropped)
li <- dat.li2007
for (m in c("OR", "RR", "RD")) {
  es <- escalc(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = li)
  add_escalc(paste0("li2007_", m), m, "metadat::dat.li2007",
             sprintf("escalc(measure=\"%s\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.li2007)", m),
             list(ai = li$ai, n1i = li$n1i, ci = li$ci, n2i = li$n2i), es)
}
es <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = li)
add_dataset("li2007_OR", es$yi, es$vi, "metadat::dat.li2007",
            "escalc(measure=\"OR\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.li2007)")

yu <- dat.yusuf1985[dat.yusuf1985$table == "6", ]
yu <- yu[complete.cases(yu[, c("ai", "n1i", "ci", "n2i")]), ]
for (m in c("OR", "RR", "RD")) {
  es <- escalc(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = yu)
  add_escalc(paste0("yusuf1985_t6_", m), m, "metadat::dat.yusuf1985, table 6, complete rows",
             sprintf("escalc(measure=\"%s\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=subset(dat.yusuf1985, table==\"6\" & complete.cases(ai, n1i, ci, n2i)))", m),
             list(ai = yu$ai, n1i = yu$n1i, ci = yu$ci, n2i = yu$n2i), es)
}
es <- escalc(measure = "OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = yu)
add_dataset("yusuf1985_t6_OR", es$yi, es$vi, "metadat::dat.yusuf1985, table 6, complete rows",
            "escalc(measure=\"OR\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=subset(dat.yusuf1985, table==\"6\" & complete.cases(ai, n1i, ci, n2i)))")

li5 <- dat.linde2005[complete.cases(dat.linde2005[, c("ai", "n1i", "ci", "n2i")]), ]
for (m in c("RR", "OR")) {
  es <- escalc(measure = m, ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = li5)
  add_escalc(paste0("linde2005_", m), m, "metadat::dat.linde2005, complete rows",
             sprintf("escalc(measure=\"%s\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.linde2005[complete.cases(ai, n1i, ci, n2i), ])", m),
             list(ai = li5$ai, n1i = li5$n1i, ci = li5$ci, n2i = li5$n2i), es)
}
es <- escalc(measure = "RR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = li5)
add_dataset("linde2005_RR", es$yi, es$vi, "metadat::dat.linde2005, complete rows",
            "escalc(measure=\"RR\", ai=ai, n1i=n1i, ci=ci, n2i=n2i, data=dat.linde2005[complete.cases(ai, n1i, ci, n2i), ])")

# --- escalc: two-group means on dat.normand1999
nd <- dat.normand1999
for (m in c("MD", "SMD", "ROM")) {
  es <- escalc(measure = m, m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i,
               n2i = n2i, data = nd)
  add_escalc(paste0("normand1999_", m), m, "metadat::dat.normand1999",
             sprintf("escalc(measure=\"%s\", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)", m),
             list(m1i = nd$m1i, sd1i = nd$sd1i, n1i = nd$n1i, m2i = nd$m2i, sd2i = nd$sd2i,
                  n2i = nd$n2i), es)
  add_dataset(paste0("normand1999_", m), es$yi, es$vi, "metadat::dat.normand1999",
              sprintf("escalc(measure=\"%s\", m1i=m1i, sd1i=sd1i, n1i=n1i, m2i=m2i, sd2i=sd2i, n2i=n2i, data=dat.normand1999)", m))
}

# --- escalc: correlations on dat.molloy2014
mo <- dat.molloy2014
es <- escalc(measure = "ZCOR", ri = ri, ni = ni, data = mo)
add_escalc("molloy2014_ZCOR", "ZCOR", "metadat::dat.molloy2014",
           "escalc(measure=\"ZCOR\", ri=ri, ni=ni, data=dat.molloy2014)",
           list(ri = mo$ri, ni = mo$ni), es)
add_dataset("molloy2014_ZCOR", es$yi, es$vi, "metadat::dat.molloy2014",
            "escalc(measure=\"ZCOR\", ri=ri, ni=ni, data=dat.molloy2014)")

# --- escalc: single proportions on dat.pritz1997 (two studies with all events) and on a
#     constructed set with 0 events and all events
pr <- dat.pritz1997
prop_sets <- list(
  pritz1997 = list(xi = pr$xi, ni = pr$ni, source = "metadat::dat.pritz1997",
                   data = "dat.pritz1997"),
  zero_all = list(xi = c(0, 3, 12, 20, 0, 7, 25, 1), ni = c(15, 20, 12, 40, 8, 7, 30, 50),
                  source = "constructed: 0-event and all-event studies",
                  data = "data.frame(xi=c(0,3,12,20,0,7,25,1), ni=c(15,20,12,40,8,7,30,50))")
)
for (ps in names(prop_sets)) {
  s <- prop_sets[[ps]]
  for (m in c("PR", "PLO", "PFT", "PAS")) {
    es <- escalc(measure = m, xi = s$xi, ni = s$ni)
    add_escalc(paste0(ps, "_", m), m, s$source,
               sprintf("escalc(measure=\"%s\", xi=xi, ni=ni, data=%s)", m, s$data),
               list(xi = s$xi, ni = s$ni), es)
    if (ps == "pritz1997" && m %in% c("PLO", "PFT")) {
      add_dataset(paste0(ps, "_", m), es$yi, es$vi, s$source,
                  sprintf("escalc(measure=\"%s\", xi=xi, ni=ni, data=%s)", m, s$data),
                  list(xi = num(s$xi), ni = num(s$ni)))
    }
  }
}

# --- escalc: 2x2 tables with zero cells, including a double-zero and an all-event study
zc <- list(ai = c(0, 3, 0, 12, 10, 5), bi = c(20, 17, 15, 0, 10, 45),
           ci = c(2, 0, 0, 8, 10, 9), di = c(18, 22, 15, 4, 10, 41))
for (m in c("OR", "RR", "RD")) {
  es <- escalc(measure = m, ai = zc$ai, bi = zc$bi, ci = zc$ci, di = zc$di)
  add_escalc(paste0("zero_cells_", m), m, "constructed: zero cells, a double-zero study",
             sprintf("escalc(measure=\"%s\", ai=c(0,3,0,12,10,5), bi=c(20,17,15,0,10,45), ci=c(2,0,0,8,10,9), di=c(18,22,15,4,10,41))", m),
             zc, es)
}

# --- escalc: single-group pre/post (raw mean change and standardised mean change).
# metadat 1.2 has no pre/post set with all of m1i, m2i, sd1i, sd2i, ni, ri; the Becker (1988)
# data as tabulated by Morris (2008, Table 5) are published with the pre/post correlation and
# are the data of metafor's own test_analysis_example_morris2008.r. m1i = post, m2i = pre.
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
for (g in names(morris)) {
  d <- morris[[g]]
  src <- sprintf("Morris (2008) Table 5 (Becker 1988), %s group", g)
  es <- escalc(measure = "MC", m1i = m_post, m2i = m_pre, sd1i = sd_post, sd2i = sd_pre,
               ni = ni, ri = ri, data = d)
  add_escalc(paste0("morris2008_", g, "_MC"), "MC", src,
             "escalc(measure=\"MC\", m1i=m_post, m2i=m_pre, sd1i=sd_post, sd2i=sd_pre, ni=ni, ri=ri)",
             list(m1i = d$m_post, m2i = d$m_pre, sd1i = d$sd_post, sd2i = d$sd_pre, ni = d$ni,
                  ri = d$ri), es)
  es <- escalc(measure = "SMCR", m1i = m_post, m2i = m_pre, sd1i = sd_pre, ni = ni, ri = ri,
               data = d)
  add_escalc(paste0("morris2008_", g, "_SMCR"), "SMCR", src,
             "escalc(measure=\"SMCR\", m1i=m_post, m2i=m_pre, sd1i=sd_pre, ni=ni, ri=ri)",
             list(m1i = d$m_post, m2i = d$m_pre, sd1i = d$sd_pre, ni = d$ni, ri = d$ri), es)
  es <- escalc(measure = "SMCC", m1i = m_post, m2i = m_pre, sd1i = sd_post, sd2i = sd_pre,
               ni = ni, ri = ri, data = d)
  add_escalc(paste0("morris2008_", g, "_SMCC"), "SMCC", src,
             "escalc(measure=\"SMCC\", m1i=m_post, m2i=m_pre, sd1i=sd_post, sd2i=sd_pre, ni=ni, ri=ri)",
             list(m1i = d$m_post, m2i = d$m_pre, sd1i = d$sd_post, sd2i = d$sd_pre, ni = d$ni,
                  ri = d$ri), es)
  if (g == "treatment") {
    add_dataset("morris2008_treatment_SMCC", es$yi, es$vi, src,
                "escalc(measure=\"SMCC\", m1i=m_post, m2i=m_pre, sd1i=sd_post, sd2i=sd_pre, ni=ni, ri=ri)")
  }
}

# --- data sets published as yi/vi
add_dataset("hackshaw1998", dat.hackshaw1998$yi, dat.hackshaw1998$vi,
            "metadat::dat.hackshaw1998 (log odds ratios)", "dat.hackshaw1998[, c(\"yi\", \"vi\")]")
add_dataset("raudenbush1985", dat.raudenbush1985$yi, dat.raudenbush1985$vi,
            "metadat::dat.raudenbush1985 (standardised mean differences)",
            "dat.raudenbush1985[, c(\"yi\", \"vi\")]")
add_dataset("konstantopoulos2011", dat.konstantopoulos2011$yi, dat.konstantopoulos2011$vi,
            "metadat::dat.konstantopoulos2011, analysed as independent studies",
            "dat.konstantopoulos2011[, c(\"yi\", \"vi\")]")
add_dataset("bangertdrowns2004", dat.bangertdrowns2004$yi, dat.bangertdrowns2004$vi,
            "metadat::dat.bangertdrowns2004 (standardised mean differences)",
            "dat.bangertdrowns2004[, c(\"yi\", \"vi\")]")

# --- synthetic edge cases (seeded above; the inputs are stored, so the seed is informative)
syn <- list()
syn$synthetic_k2 <- list(yi = c(0.12, 0.91), vi = c(0.04, 0.09),
                         what = "k = 2, heterogeneous")
syn$synthetic_k3 <- list(yi = c(-0.35, 0.4, 0.95), vi = c(0.05, 0.02, 0.1),
                         what = "k = 3, heterogeneous")
syn$synthetic_q_below_df <- list(yi = c(0.20, 0.21, 0.19, 0.23, 0.18, 0.20),
                                 vi = c(0.03, 0.05, 0.02, 0.04, 0.06, 0.03),
                                 what = "Q < df: tau2 on the boundary 0")
syn$synthetic_identical <- list(yi = rep(0.3, 5), vi = c(0.01, 0.02, 0.05, 0.1, 0.2),
                                what = "identical effects")
vi_span <- 10^seq(-3, 1, length.out = 12)
syn$synthetic_vi_span <- list(yi = round(rnorm(12, 0.5, sqrt(0.2 + vi_span)), 6), vi = vi_span,
                              what = "vi spanning four orders of magnitude (1e-3 .. 10)")
vi200 <- round(runif(200, 0.01, 0.5), 6)
syn$synthetic_k200 <- list(yi = round(rnorm(200, -0.2, sqrt(0.1 + vi200)), 6), vi = vi200,
                           what = "large k = 200")
vi_far <- round(runif(10, 0.5, 4), 6)
syn$synthetic_far <- list(yi = round(rnorm(10, 1e4, sqrt(2 + vi_far)), 6), vi = vi_far,
                          what = "effects far from 0 (around 1e4)")
vi_het <- c(0.001, 0.002, 1, 1.5, 2, 0.0015, 3)
syn$synthetic_mixed_precision <- list(yi = c(0.05, -0.02, 2.5, -1.8, 3.1, 0.01, -2.9),
                                      vi = vi_het,
                                      what = "few very precise studies plus noisy ones with large tau2 (Fisher scoring with stepadj=1 takes many steps here)")
# Bimodal (restricted) likelihoods found by a random search: an interior local maximum plus
# the global maximum on the boundary tau2 = 0. Fisher scoring started at the Hedges estimate
# climbs to the local maximum; metafor's ll0check then warns and sets tau2 = 0, the global
# optimum. A correct implementation returns tau2 = 0 for ML (first set) / REML (second set).
syn$synthetic_bimodal_ml <- list(yi = c(0.584327, -1.229, 0.603075, -0.924973),
                                 vi = c(0.000613777, 0.392917, 0.330909, 2.66767),
                                 what = "bimodal ML likelihood, global maximum at tau2 = 0")
syn$synthetic_bimodal_reml <- list(yi = c(-0.149542, -0.147409, -3.16677, 0.14008),
                                   vi = c(0.0521099, 0.00857698, 0.880943, 0.0668355),
                                   what = "bimodal REML likelihood, global maximum at tau2 = 0")
for (nm in names(syn)) {
  add_dataset(nm, syn[[nm]]$yi, syn[[nm]]$vi, paste("synthetic:", syn[[nm]]$what),
              "see make_reference.R (values stored)")
}

# ---------------------------------------------------------------------------------------------
# rma.uni grid

profile_ll <- function(tau2, yi, vi, X, reml) {
  w <- 1 / (vi + tau2)
  XtWX <- crossprod(X, w * X)
  b <- solve(XtWX, crossprod(X, w * yi))
  r <- yi - X %*% b
  ll <- -0.5 * sum(log(vi + tau2)) - 0.5 * sum(w * r^2)
  if (reml) ll <- ll - 0.5 * determinant(XtWX, logarithm = TRUE)$modulus
  c(ll)
}

check_optimum <- function(fit, yi, vi, X, label) {
  if (fit$method == "PM") {
    # Paule-Mandel: generalised Q(tau2) = k - p, or tau2 = 0 when Q(0) < k - p
    w <- 1 / (vi + fit$tau2)
    b <- solve(crossprod(X, w * X), crossprod(X, w * yi))
    q <- sum(w * (yi - X %*% b)^2)
    target <- length(yi) - ncol(X)
    if (fit$tau2 > 0 && abs(q - target) > 1e-9 * target) stop(sprintf("%s: PM root off", label))
    if (fit$tau2 == 0 && q > target) stop(sprintf("%s: PM at 0 but Q > k - p", label))
    return(invisible())
  }
  if (!(fit$method %in% c("ML", "REML"))) return(invisible())
  upper <- max(100, 10 * fit$tau2 + 10 * var(yi))
  opt <- optimize(profile_ll, c(0, upper), yi = yi, vi = vi, X = X,
                  reml = fit$method == "REML", maximum = TRUE, tol = 1e-14)
  ll_fit <- profile_ll(fit$tau2, yi, vi, X, fit$method == "REML")
  ll_zero <- profile_ll(0, yi, vi, X, fit$method == "REML")
  best <- max(opt$objective, ll_zero)
  if (best - ll_fit > 1e-9) stop(sprintf("%s: metafor tau2 %.12g is not the optimum", label, fit$tau2))
}

stat_name <- function(test) if (test == "z") "zval" else "tval"

fit_outputs <- function(fit) {
  pr <- predict(fit)
  ci <- confint(fit, control = CI_CTRL)$random
  # metafor's default search interval ends at max(100, 10 tau2); beyond it confint prints
  # the bound as ">value". The pinned bound is the true root (searched up to 1e6).
  default_max <- max(100, 10 * fit$tau2)
  list(
    k = fit$k, p = fit$p,
    estimate = c(fit$b)[1], se = fit$se[1], stat = fit$zval[1],
    stat_df = if (fit$test %in% c("knha", "adhoc", "t")) fit$ddf[1] else NULL,
    pval = fit$pval[1], ci_low = fit$ci.lb[1], ci_high = fit$ci.ub[1],
    tau2 = fit$tau2, tau2_se = fit$se.tau2, i2 = fit$I2, h2 = fit$H2,
    q = fit$QE, q_df = fit$k - fit$p, q_pval = fit$QEp,
    tau2_ci_low = ci["tau^2", "ci.lb"], tau2_ci_high = ci["tau^2", "ci.ub"],
    tau2_ci_high_beyond_metafor_default = ci["tau^2", "ci.ub"] > default_max,
    pi_low = pr$pi.lb, pi_high = pr$pi.ub,
    weights = num(weights(fit))
  )
}

rma_cases <- list()
fits <- list()
for (ds in names(datasets)) {
  d <- datasets[[ds]]
  for (m in METHODS) {
    for (t in TESTS) {
      id <- paste(ds, m, t, sep = "-")
      # the bimodal sets trigger metafor's documented "stuck at a local maximum" warning
      fit <- withCallingHandlers(
        rma(yi = as.numeric(d$yi), vi = as.numeric(d$vi), method = m, test = t, control = CTRL),
        warning = function(w) {
          if (grepl("^synthetic_bimodal", ds) && grepl("local maximum", conditionMessage(w))) {
            invokeRestart("muffleWarning")
          }
        })
      check_optimum(fit, as.numeric(d$yi), as.numeric(d$vi), matrix(1, d$k, 1), id)
      fits[[id]] <- fit
      rma_cases[[length(rma_cases) + 1L]] <- list(
        id = id, dataset = ds, method = m,
        test = if (t == "adhoc") "knha" else t, adhoc = t == "adhoc",
        call = sprintf("rma(yi, vi, method=\"%s\", test=\"%s\", control=list(threshold=1e-12, tol=1e-12, maxiter=10000)); confint(fit, control=list(tol=1e-12, tau2.max=1e6)); predict(fit); weights(fit)", m, t),
        out = fit_outputs(fit))
    }
  }
}

# the same outputs at level = 0.90 (CI, PI and the Q-profile CI follow the fit's level)
level_cases <- list()
for (ds in c("bcg_RR", "normand1999_MD", "synthetic_k3", "hackshaw1998")) {
  d <- datasets[[ds]]
  for (m in c("REML", "DL", "PM")) {
    for (t in c("z", "knha")) {
      fit <- rma(yi = as.numeric(d$yi), vi = as.numeric(d$vi), method = m, test = t,
                 level = 90, control = CTRL)
      level_cases[[length(level_cases) + 1L]] <- list(
        id = paste(ds, m, t, "level90", sep = "-"), dataset = ds, method = m, test = t,
        adhoc = FALSE, level = 0.9,
        call = sprintf("rma(yi, vi, method=\"%s\", test=\"%s\", level=90, control=...); confint(fit); predict(fit)", m, t),
        out = fit_outputs(fit))
    }
  }
}

# ---------------------------------------------------------------------------------------------
# prediction-interval conventions computed from the fit: est +/- qt(.975, df) sqrt(se^2 + tau2)

pi_cases <- list()
for (ds in c("bcg_RR", "normand1999_MD", "synthetic_k3", "hackshaw1998")) {
  for (m in c("REML", "DL")) {
    for (t in c("z", "knha")) {
      fit <- fits[[paste(ds, m, t, sep = "-")]]
      for (conv in c("t(k-1)", "t(k-2)")) {
        df <- if (conv == "t(k-1)") fit$k - 1 else fit$k - 2
        half <- qt(0.975, df) * sqrt(fit$se^2 + fit$tau2)
        pi_cases[[length(pi_cases) + 1L]] <- list(
          id = paste(ds, m, t, conv, sep = "-"), dataset = ds, method = m, test = t,
          pi = conv, call = sprintf("b +/- qt(0.975, %s) * sqrt(se^2 + tau2) from rma(yi, vi, method=\"%s\", test=\"%s\")", sub("t\\((.*)\\)", "\\1", conv), m, t),
          out = list(estimate = c(fit$b), pi_low = c(fit$b) - half, pi_high = c(fit$b) + half))
      }
    }
  }
}

# I2 computed from Q (Higgins & Thompson 2002) for a few fits
i2q_cases <- list()
for (ds in c("bcg_RR", "normand1999_MD", "synthetic_q_below_df")) {
  for (m in c("REML", "DL", "PM")) {
    fit <- fits[[paste(ds, m, "z", sep = "-")]]
    q <- fit$QE
    dfq <- fit$k - fit$p
    i2q_cases[[length(i2q_cases) + 1L]] <- list(
      id = paste(ds, m, "i2q", sep = "-"), dataset = ds, method = m,
      call = "max(0, 100 * (QE - (k - p)) / QE) from rma(yi, vi)",
      out = list(i2 = max(0, 100 * (q - dfq) / q), q = q))
  }
}

# ---------------------------------------------------------------------------------------------
# leave1out, regtest, trimfill

l1o_cases <- list()
reg_cases <- list()
tf_cases <- list()
for (ds in c("bcg_RR", "normand1999_MD", "hackshaw1998", "raudenbush1985", "pritz1997_PLO",
             "synthetic_k3")) {
  for (m in c("REML", "DL", "PM")) {
    for (t in c("z", "knha")) {
      fit <- fits[[paste(ds, m, t, sep = "-")]]
      id <- paste(ds, m, t, sep = "-")
      l1 <- leave1out(fit)
      stat <- if (is.null(l1$zval)) l1$tval else l1$zval  # tval under Knapp-Hartung
      l1o_cases[[length(l1o_cases) + 1L]] <- list(
        id = id, dataset = ds, method = m, test = t, call = "leave1out(fit)",
        out = list(estimate = num(l1$estimate), se = num(l1$se), statistic = num(stat),
                   pval = num(l1$pval), ci_low = num(l1$ci.lb), ci_high = num(l1$ci.ub),
                   q = num(l1$Q), q_pval = num(l1$Qp), tau2 = num(l1$tau2), i2 = num(l1$I2),
                   h2 = num(l1$H2)))
      if (fit$k >= 4) {
        rt <- regtest(fit)
        reg_cases[[length(reg_cases) + 1L]] <- list(
          id = id, dataset = ds, method = m, test = t, call = "regtest(fit)",
          out = list(statistic = rt$zval, pval = rt$pval,
                     df = if (t == "z") NULL else rt$dfs, limit_estimate = rt$est,
                     limit_ci_low = rt$ci.lb, limit_ci_high = rt$ci.ub))
        # trimfill passes "..." to its rma.uni refits (control) but not the fit's test, so
        # the filled model is always a z-test fit in metafor 3.8
        tf <- trimfill(fit, control = CTRL)
        tf_cases[[length(tf_cases) + 1L]] <- list(
          id = id, dataset = ds, method = m, test = t, call = "trimfill(fit, control=list(threshold=1e-12, tol=1e-12, maxiter=10000))",
          out = list(k0 = tf$k0, side = tf$side, estimate = c(tf$b), se = tf$se,
                     pval = tf$pval, ci_low = tf$ci.lb, ci_high = tf$ci.ub, tau2 = tf$tau2,
                     k = tf$k))
      }
    }
  }
}

# ---------------------------------------------------------------------------------------------
# meta-regression on dat.bcg (log RR ~ ablat + year; log RR ~ ablat)

mr_cases <- list()
bd <- datasets[["bcg_RR"]]
mod_sets <- list(ablat_year = c("ablat", "year"), ablat = c("ablat"))
for (ms in names(mod_sets)) {
  cols <- mod_sets[[ms]]
  modsdf <- data.frame(lapply(bd[cols], as.numeric))
  for (m in c("REML", "ML", "DL", "PM", "HE", "SJ", "EB", "HS")) {
    for (t in TESTS) {
      fit <- rma(yi = as.numeric(bd$yi), vi = as.numeric(bd$vi), mods = as.matrix(modsdf),
                 method = m, test = t, control = CTRL)
      check_optimum(fit, as.numeric(bd$yi), as.numeric(bd$vi), cbind(1, as.matrix(modsdf)),
                    paste(ms, m, t))
      coef <- list(name = arr(c("intrcpt", cols)), estimate = num(fit$b), se = num(fit$se),
                   stat = num(fit$zval), pval = num(fit$pval), ci_low = num(fit$ci.lb),
                   ci_high = num(fit$ci.ub))
      mr_cases[[length(mr_cases) + 1L]] <- list(
        id = paste("bcg_RR", ms, m, t, sep = "-"), dataset = "bcg_RR", mods = arr(cols),
        method = m, test = if (t == "adhoc") "knha" else t, adhoc = t == "adhoc",
        call = sprintf("rma(yi, vi, mods=~%s, data=dat.bcg (log RR), method=\"%s\", test=\"%s\", control=list(threshold=1e-12, tol=1e-12, maxiter=10000))", paste(cols, collapse = "+"), m, t),
        out = list(k = fit$k, p = fit$p, coefficients = coef, qm = fit$QM,
                   qm_df = num(fit$QMdf[!is.na(fit$QMdf)]), qm_pval = fit$QMp,
                   tau2 = fit$tau2, tau2_se = fit$se.tau2, i2 = fit$I2, h2 = fit$H2,
                   r2 = fit$R2, q = fit$QE, q_pval = fit$QEp))
      if (ms == "ablat" && m %in% c("REML", "DL") && t != "adhoc") {
        # regtest on a meta-regression: sei added to the moderators; no limit estimate
        rt <- regtest(fit)
        reg_cases[[length(reg_cases) + 1L]] <- list(
          id = paste("bcg_RR", ms, m, t, sep = "-"), dataset = "bcg_RR", mods = arr(cols),
          method = m, test = t, call = "regtest(rma(yi, vi, mods=~ablat, ...))",
          out = list(statistic = rt$zval, pval = rt$pval,
                     df = if (t == "z") NULL else rt$dfs))
      }
    }
  }
}

# ---------------------------------------------------------------------------------------------
# subgroups on dat.bcg by allocation

sg_cases <- list()
# dat.bcg by decade of publication has two single-study subgroups (1950s, 1980s); metafor fits
# k = 1 with tau2 = 0 and switches test="knha" to "z" for it (with a warning, muffled here)
muffle_k1 <- function(expr) {
  withCallingHandlers(expr, warning = function(w) {
    if (grepl("since k=1", conditionMessage(w))) invokeRestart("muffleWarning")
  })
}
groupings <- list(alloc = as.character(bd$alloc), decade = as.character(bd$decade))
for (gname in names(groupings)) {
  grp <- groupings[[gname]]
  levels_in_order <- unique(grp)
  for (m in c("REML", "DL", "PM", "ML")) {
    for (t in c("z", "knha")) {
      per <- list()
      est <- c()
      se <- c()
      for (g in levels_in_order) {
        sel <- grp == g
        fit <- muffle_k1(rma(yi = as.numeric(bd$yi)[sel], vi = as.numeric(bd$vi)[sel],
                             method = m, test = t, control = CTRL))
        per[[g]] <- list(k = fit$k, estimate = c(fit$b), se = fit$se, pval = fit$pval,
                         ci_low = fit$ci.lb, ci_high = fit$ci.ub, tau2 = fit$tau2,
                         i2 = fit$I2, q = fit$QE)
        est <- c(est, c(fit$b))
        se <- c(se, fit$se)
      }
      fe <- rma(yi = est, sei = se, method = "FE")
      sg_cases[[length(sg_cases) + 1L]] <- list(
        id = paste0("bcg_RR-", gname, "-", m, "-", t, "-separate"), dataset = "bcg_RR",
        groups = gname, method = m, test = t, tau2 = "separate",
        call = sprintf("per subgroup of %s rma(yi, vi, method=\"%s\", test=\"%s\"); rma(estimates, sei=se, method=\"FE\")", gname, m, t),
        out = list(group_order = arr(levels_in_order), subgroups = per, q_between = fe$QE,
                   df_between = fe$k - 1L, pval_between = fe$QEp))
      fitc <- rma(yi = as.numeric(bd$yi), vi = as.numeric(bd$vi), mods = ~ factor(grp),
                  method = m, test = t, control = CTRL)
      # each subgroup refitted with tau2 fixed at the common value (metafor's tau2= argument)
      per_c <- list()
      for (g in levels_in_order) {
        sel <- grp == g
        fit <- muffle_k1(rma(yi = as.numeric(bd$yi)[sel], vi = as.numeric(bd$vi)[sel],
                             tau2 = fitc$tau2, method = m, test = t))
        per_c[[g]] <- list(k = fit$k, estimate = c(fit$b), se = fit$se, pval = fit$pval,
                           ci_low = fit$ci.lb, ci_high = fit$ci.ub, tau2 = fit$tau2)
      }
      sg_cases[[length(sg_cases) + 1L]] <- list(
        id = paste0("bcg_RR-", gname, "-", m, "-", t, "-common"), dataset = "bcg_RR",
        groups = gname, method = m, test = t, tau2 = "common",
        call = sprintf("rma(yi, vi, mods=~factor(%s), method=\"%s\", test=\"%s\"); per subgroup rma(yi, vi, tau2=<common tau2>, test=\"%s\")", gname, m, t, t),
        out = list(group_order = arr(levels_in_order), subgroups = per_c, q_between = fitc$QM,
                   df_between = num(fitc$QMdf[!is.na(fitc$QMdf)]), pval_between = fitc$QMp,
                   tau2 = fitc$tau2))
    }
  }
}

# ---------------------------------------------------------------------------------------------
# GLMM (binomial-normal, logit link) for single proportions, proportion CIs, back-transforms

glmm_sets <- list(
  pritz1997 = list(xi = pr$xi, ni = pr$ni, source = "metadat::dat.pritz1997"),
  zero_all = list(xi = prop_sets$zero_all$xi, ni = prop_sets$zero_all$ni,
                  source = prop_sets$zero_all$source),
  leakage_like = list(xi = c(0, 2, 5, 1, 9, 0), ni = c(12, 25, 31, 18, 40, 9),
                      source = "constructed: small leakage-like counts with zeros"),
  homogeneous = list(xi = c(10, 20, 30, 41), ni = c(100, 200, 300, 400),
                     source = "constructed: near-identical proportions (tau2 at 0)")
)
glmm_cases <- list()
ci_cases <- list()
for (lv in c(0.95, 0.90)) {
 for (gs in names(glmm_sets)) {
  s <- glmm_sets[[gs]]
  sfx <- if (lv == 0.95) "" else "-level90"
  fit <- suppressWarnings(suppressMessages(rma.glmm(measure = "PLO", xi = s$xi, ni = s$ni,
                                                    method = "ML", level = 100 * lv)))
  pr_g <- predict(fit, transf = transf.ilogit)
  # metafor prints lme4's log-likelihood, which is not the binomial-normal marginal
  # log-likelihood with its binomial coefficients; the latter, integrated numerically at
  # metafor's estimates, is pinned as loglik_marginal
  mu <- c(fit$b)
  tau <- sqrt(fit$tau2)
  ll_marg <- sum(mapply(function(x, n) {
    if (tau == 0) return(dbinom(x, n, plogis(mu), log = TRUE))
    log(integrate(function(u) dbinom(x, n, plogis(mu + tau * u)) * dnorm(u), -Inf, Inf,
                  rel.tol = 1e-12)$value)
  }, s$xi, s$ni))
  glmm_cases[[length(glmm_cases) + 1L]] <- list(
    id = paste0(gs, sfx), source = s$source, level = lv,
    call = sprintf("rma.glmm(measure=\"PLO\", xi=xi, ni=ni, method=\"ML\", level=%g); predict(fit, transf=transf.ilogit)", 100 * lv),
    inputs = list(xi = num(s$xi), ni = num(s$ni)),
    out = list(k = fit$k, estimate = c(fit$b), se = fit$se, zval = fit$zval, pval = fit$pval,
               ci_low = fit$ci.lb, ci_high = fit$ci.ub, tau2 = fit$tau2,
               loglik_lme4 = unname(fit$fit.stats["ll", "ML"]), loglik_marginal = ll_marg,
               proportion = pr_g$pred,
               proportion_ci_low = pr_g$ci.lb, proportion_ci_high = pr_g$ci.ub,
               pi_low = pr_g$pi.lb, pi_high = pr_g$pi.ub))
  cp <- t(mapply(function(x, n) binom.test(x, n, conf.level = lv)$conf.int, s$xi, s$ni))
  wi <- t(mapply(function(x, n) {
    suppressWarnings(prop.test(x, n, correct = FALSE, conf.level = lv))$conf.int
  }, s$xi, s$ni))
  ci_cases[[length(ci_cases) + 1L]] <- list(
    id = paste0(gs, sfx), level = lv,
    call = sprintf("binom.test(x, n, conf.level=%g)$conf.int; prop.test(x, n, correct=FALSE, conf.level=%g)$conf.int", lv, lv),
    inputs = list(xi = num(s$xi), ni = num(s$ni)),
    out = list(clopper_pearson_low = num(cp[, 1]), clopper_pearson_high = num(cp[, 2]),
               wilson_low = num(wi[, 1]), wilson_high = num(wi[, 2])))
 }
}

tr_cases <- list()
for (ps in names(prop_sets)) {
  s <- prop_sets[[ps]]
  pft <- escalc(measure = "PFT", xi = s$xi, ni = s$ni)
  vals <- c(as.numeric(pft$yi), -0.2, 0, 0.05, 1.5, 1.7)
  tr_cases[[length(tr_cases) + 1L]] <- list(
    id = paste0(ps, "_PFT"), measure = "PFT", direction = "back",
    call = "transf.ipft.hm(values, targs=list(ni=ni)) (harmonic mean of ni)",
    inputs = list(values = num(vals), ni = num(s$ni)),
    out = list(values = num(transf.ipft.hm(vals, targs = list(ni = s$ni)))))
  pas <- escalc(measure = "PAS", xi = s$xi, ni = s$ni)
  vals <- c(as.numeric(pas$yi), -0.1, 0, pi / 2, 1.7)
  tr_cases[[length(tr_cases) + 1L]] <- list(
    id = paste0(ps, "_PAS"), measure = "PAS", direction = "back",
    call = "transf.iarcsin(values)", inputs = list(values = num(vals)),
    out = list(values = num(transf.iarcsin(vals))))
  plo <- escalc(measure = "PLO", xi = s$xi, ni = s$ni)
  vals <- c(as.numeric(plo$yi), -40, 0, 40)
  tr_cases[[length(tr_cases) + 1L]] <- list(
    id = paste0(ps, "_PLO"), measure = "PLO", direction = "back",
    call = "transf.ilogit(values)", inputs = list(values = num(vals)),
    out = list(values = num(transf.ilogit(vals))))
}
p_fwd <- c(0, 0.001, 0.05, 0.3, 0.5, 0.77, 0.999, 1)
tr_cases[[length(tr_cases) + 1L]] <- list(
  id = "forward_PLO", measure = "PLO", direction = "forward", call = "transf.logit(values)",
  inputs = list(values = num(p_fwd)), out = list(values = num(transf.logit(p_fwd))))
tr_cases[[length(tr_cases) + 1L]] <- list(
  id = "forward_PFT", measure = "PFT", direction = "forward",
  call = "transf.pft(values, ni) with ni the harmonic mean of c(10, 20, 40)",
  inputs = list(values = num(p_fwd), ni = num(c(10, 20, 40))),
  out = list(values = num(transf.pft(p_fwd, 1 / mean(1 / c(10, 20, 40))))))
tr_cases[[length(tr_cases) + 1L]] <- list(
  id = "forward_PAS", measure = "PAS", direction = "forward", call = "transf.arcsin(values)",
  inputs = list(values = num(p_fwd)), out = list(values = num(transf.arcsin(p_fwd))))

# ---------------------------------------------------------------------------------------------
# pool_many: rows are data sets of different k (NaN-padded in the tests), one case per method

pm_rows <- c("bcg_RR", "normand1999_MD", "synthetic_k3", "pritz1997_PLO", "synthetic_k2",
             "raudenbush1985", "synthetic_q_below_df", "synthetic_bimodal_ml",
             "synthetic_bimodal_reml", "synthetic_identical", "synthetic_vi_span",
             "synthetic_far", "synthetic_mixed_precision", "hackshaw1998")
pm_cases <- list()
for (m in c("DL", "REML", "ML", "PM")) {
  for (t in c("z", "knha")) {
    rows <- lapply(pm_rows, function(ds) {
      fit <- fits[[paste(ds, m, t, sep = "-")]]
      list(k = fit$k, estimate = c(fit$b), se = fit$se, ci_low = fit$ci.lb,
           ci_high = fit$ci.ub, tau2 = fit$tau2, i2 = fit$I2, q = fit$QE)
    })
    pm_cases[[length(pm_cases) + 1L]] <- list(
      id = paste("pool_many", m, t, sep = "-"), rows = arr(pm_rows), method = m, test = t,
      call = sprintf("rma(yi, vi, method=\"%s\", test=\"%s\") for each row", m, t),
      out = rows)
  }
}

# ---------------------------------------------------------------------------------------------
# printed output of a few fits (print.rma.uni, ASCII quotes, width 80)

options(useFancyQuotes = FALSE, width = 80)
print_cases <- list()
add_print <- function(id, fit, ds, m, t, mods = NULL) {
  txt <- capture.output(print(fit))
  print_cases[[length(print_cases) + 1L]] <<- list(
    id = id, dataset = ds, method = m, test = if (t == "adhoc") "knha" else t,
    adhoc = t == "adhoc", mods = if (is.null(mods)) NULL else arr(mods),
    call = "capture.output(print(fit))", text = arr(txt))
}
for (key in c("bcg_RR-REML-z", "bcg_RR-DL-knha", "bcg_RR-PM-adhoc", "normand1999_MD-HE-z",
              "synthetic_q_below_df-ML-z", "hackshaw1998-EB-knha", "pritz1997_PLO-SJ-z",
              "molloy2014_ZCOR-HS-knha", "synthetic_far-REML-z")) {
  parts <- strsplit(key, "-")[[1]]
  add_print(key, fits[[key]], parts[1], parts[2], parts[3])
}
for (t in c("z", "knha")) {
  fit <- rma(yi = as.numeric(bd$yi), vi = as.numeric(bd$vi),
             mods = cbind(ablat = as.numeric(bd$ablat), year = as.numeric(bd$year)),
             method = "REML", test = t, control = CTRL)
  add_print(paste0("bcg_RR-ablat_year-REML-", t), fit, "bcg_RR", "REML", t, c("ablat", "year"))
}

# ---------------------------------------------------------------------------------------------

ref <- list(
  meta = list(
    r_version = R.version.string,
    metafor = as.character(packageVersion("metafor")),
    lme4 = as.character(packageVersion("lme4")),
    metadat = as.character(packageVersion("metadat")),
    Matrix = as.character(packageVersion("Matrix")),
    generated_by = "tests/stats/reference/make_reference.R",
    seed = 20261128L,
    number_format = "%.17g; non-finite written as null with a <name>_nonfinite sibling",
    rma_control = "control=list(threshold=1e-12, tol=1e-12, maxiter=10000)",
    confint_control = "control=list(tol=1e-12, maxiter=10000, tau2.max=1e6)",
    methods = arr(METHODS),
    tests = arr(c("z", "knha", "knha+adhoc"))
  ),
  datasets = datasets,
  escalc = escalc_cases,
  rma = rma_cases,
  rma_level = level_cases,
  pi_conventions = pi_cases,
  i2_from_q = i2q_cases,
  leave1out = l1o_cases,
  regtest = reg_cases,
  trimfill = tf_cases,
  metareg = mr_cases,
  subgroups = sg_cases,
  glmm = glmm_cases,
  proportion_ci = ci_cases,
  transforms = tr_cases,
  pool_many = pm_cases,
  print = print_cases
)

writeLines(to_json(flag_nonfinite(ref)), out_path, useBytes = TRUE)
cat("wrote", out_path, "with", length(rma_cases), "rma cases and", length(escalc_cases),
    "escalc cases\n")
