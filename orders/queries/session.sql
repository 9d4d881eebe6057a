-- name: session_set_actor
-- Tell the audit trigger who is acting, for this transaction only.
SELECT set_config('orders.actor', %(actor)s, true)
