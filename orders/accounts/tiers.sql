-- name: account_set_tier
-- Give an account a tier and a fair-share weight, audited; its waiting runs are re-levelled.
SELECT user_id, email, tier, share_weight, waiting_runs
FROM account_set_tier(%(email)s, %(tier)s, %(share_weight)s, %(operator)s);

-- name: tier_list
-- The tiers, highest boost first, with how many accounts each has.
SELECT t.tier, t.priority_boost, t.share_weight, t.description, count(u.user_id) AS accounts
FROM account_tiers t
LEFT JOIN users u ON u.tier = t.tier
GROUP BY t.tier
ORDER BY t.priority_boost DESC, t.tier;
