# Reference values of R metafor for analyses of the shipped registry (the review's own data).
#
# Run from the repository root after `blastic-meta report`:
#     Rscript tests/stats/reference/make_reference_shipped.R
# It reads the study-level input tables the report wrote (outputs/tables/inputs/*.csv), keeps
# the included rows of the two compared lesion types, and writes
# tests/stats/reference/shipped_reference.json with those inputs and metafor's results:
#   * the lesion-type comparison of per-patient leakage: rma.glmm(measure = "PLO", mods =
#     ~ osteoblastic) - coefficient, Wald QM, tau2, I2, the heterogeneity tests - and the
#     likelihood-ratio test of the moderator from lme4's own marginal logLik of the two fits
#     (see README_engine.md: metafor's logLik of an rma.glmm fit is conditional, not marginal);
#   * Baujat coordinates (metafor baujat() of an equal-effects fit) of the same logits.
# The test (tests/review/test_shipped_reference.py) first checks that the report's inputs are
# still these, so a change of the registry shows up as a reference to regenerate.

suppressPackageStartupMessages({
  library(metafor)
  library(lme4)
})
source(file.path("tests", "stats", "reference", "json_writer.R"))

out_path <- file.path("tests", "stats", "reference", "shipped_reference.json")
inputs <- file.path("outputs", "tables", "inputs")

compared <- function(name) {
  d <- read.csv(file.path(inputs, paste0(name, ".csv")), stringsAsFactors = FALSE)
  d <- d[d$included == "True" & d$group %in% c("osteoblastic", "osteolytic"), ]
  d[order(d$study, d$arm), ]
}

glmm_case <- function(name) {
  d <- compared(name)
  ob <- as.numeric(d$group == "osteoblastic")
  full <- rma.glmm(measure = "PLO", xi = d$events, ni = d$total, mods = ~ ob, method = "ML",
                   retfit = TRUE)
  null <- rma.glmm(measure = "PLO", xi = d$events, ni = d$total, method = "ML", retfit = TRUE)
  ll_full <- as.numeric(logLik(full$res.ML))
  ll_null <- as.numeric(logLik(null$res.ML))
  lrt <- 2 * (ll_full - ll_null)
  list(
    id = name,
    call = "rma.glmm(measure = 'PLO', xi = events, ni = total, mods = ~ ob, method = 'ML')",
    studies = arr(d$study), events = num(d$events), totals = num(d$total),
    osteoblastic = num(ob),
    coefficient = num(coef(full)[2]), se = num(full$se[2]), pval = num(full$pval[2]),
    ci_low = num(full$ci.lb[2]), ci_high = num(full$ci.ub[2]),
    qm = num(full$QM), qm_pval = num(full$QMp), tau2 = num(full$tau2), i2 = num(full$I2),
    qe_wald = num(full$QE.Wld), qe_lrt = num(full$QE.LRT),
    lrt = num(lrt), lrt_pval = num(pchisq(lrt, 1, lower.tail = FALSE))
  )
}

baujat_case <- function(name) {
  d <- compared(name)
  es <- escalc(measure = "PLO", xi = d$events, ni = d$total)
  fit <- rma(yi, vi, data = es, method = "EE")
  b <- baujat(fit)
  list(id = name, call = "baujat(rma(yi, vi, method = 'EE')) of escalc('PLO')",
       yi = num(es$yi), vi = num(es$vi), x = num(b$x), y = num(b$y))
}

ref <- list(
  meta = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
              lme4 = as.character(packageVersion("lme4")),
              generated_by = "tests/stats/reference/make_reference_shipped.R"),
  glmm_comparison = list(glmm_case("leak_patient")),
  baujat = list(baujat_case("leak_patient"))
)
write_reference_json(ref, out_path)
