-- name: session_set_actor
-- Tell the audit trigger who is acting, for this transaction only.
SELECT set_config('orders.actor', %(actor)s, true)

-- name: session_set_reason
-- Tell the audit trigger why this transaction changes orders (recorded in details.reason).
SELECT set_config('orders.reason', %(reason)s, true)
