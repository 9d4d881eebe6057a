-- name: session_begin
-- Start a transaction's work: its timeouts (local: safe behind a transaction pooler) and who
-- acts, for the audit trigger ('' = the database role).
SELECT set_config('statement_timeout', %(statement_timeout)s, true),
       set_config('lock_timeout', %(lock_timeout)s, true),
       set_config('idle_in_transaction_session_timeout', %(idle_timeout)s, true),
       set_config('orders.actor', %(actor)s, true)

-- name: session_set_actor
-- Tell the audit trigger who is acting, for this transaction only.
SELECT set_config('orders.actor', %(actor)s, true)

-- name: session_set_reason
-- Tell the audit trigger why this transaction changes orders (recorded in details.reason).
SELECT set_config('orders.reason', %(reason)s, true)

-- name: session_set_statement_timeout
-- Bound every statement of a worker's own direct connection (session-wide: not pooled).
SELECT set_config('statement_timeout', %(statement_timeout)s, false)

-- name: session_configure_worker_pool
-- A worker's Procrastinate connections: bounded waits, and custom plans, so that Procrastinate's
-- fetch (a PL/pgSQL function, planned generically after five calls) keeps using the queue index
-- for its few mail and maintenance jobs instead of walking every waiting execution job.
SELECT set_config('statement_timeout', %(statement_timeout)s, false),
       set_config('lock_timeout', %(lock_timeout)s, false),
       set_config('idle_in_transaction_session_timeout', %(idle_timeout)s, false),
       set_config('plan_cache_mode', 'force_custom_plan', false)
