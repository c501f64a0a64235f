# Standard error of the pooled logit of a binomial-normal model computed without lme4:
# the marginal likelihood integrated by adaptive quadrature (integrate, rel.tol 1e-12),
# maximised by BFGS, the SE from numDeriv's Hessian of (mu, tau). On this data set lme4
# (and so metafor's rma.glmm) reports se = 0.3522, far from the exact 0.935; blastic_meta's
# pool_glmm follows the exact value. Run: Rscript tests/stats/reference/glmm_exact_se.R
x <- c(0, 6, 39, 64); n <- c(32, 65, 160, 113)
nll <- function(p) {
  -sum(sapply(seq_along(x), function(i) log(integrate(function(u)
    dbinom(x[i], n[i], plogis(p[1] + p[2] * u)) * dnorm(u), -Inf, Inf, rel.tol = 1e-12)$value)))
}
fit <- optim(c(-1.8, 1.7), nll, method = "BFGS", control = list(reltol = 1e-14))
se <- sqrt(solve(numDeriv::hessian(nll, fit$par))[1, 1])
r <- metafor::rma.glmm(measure = "PLO", xi = x, ni = n)
cat(sprintf('{"events": [0, 6, 39, 64], "totals": [32, 65, 160, 113], "exact": {"estimate": %.10g, "tau2": %.10g, "se": %.10g}, "metafor": {"estimate": %.10g, "tau2": %.10g, "se": %.10g}}\n',
            fit$par[1], fit$par[2]^2, se, r$b[1], r$tau2, r$se))
