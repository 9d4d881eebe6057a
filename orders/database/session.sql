-- name: session_begin
-- Start a transaction's work: its timeouts (local: safe behind a transaction pooler) and who
-- acts, for the audit trigger ('' = the database role).
SELECT set_config('statement_timeout', %(statement_timeout)s, true),
       set_config('lock_timeout', %(lock_timeout)s, true),
       set_config('idle_in_transaction_session_timeout', %(idle_timeout)s, true),
       set_config('orders.actor', %(actor)s, true)

-- name: session_begin_run
-- Start a batch of order runs: its timeouts, its actor, and a synchronous commit whatever the
-- server's default, so that the runs are on disk before anyone can see them (and write them to
-- the status log or send them on): a crash never leaves an effect of a run that did not happen.
SELECT set_config('statement_timeout', %(statement_timeout)s, true),
       set_config('lock_timeout', %(lock_timeout)s, true),
       set_config('idle_in_transaction_session_timeout', %(idle_timeout)s, true),
       set_config('orders.actor', %(actor)s, true),
       set_config('synchronous_commit', 'on', true),
       -- a worker killed in the middle of a statement: the server notices within a second and
       -- ends it, releasing its orders (else only when the statement would have finished)
       set_config('client_connection_check_interval', '1000', true)

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
       set_config('plan_cache_mode', 'force_custom_plan', false),
       set_config('client_connection_check_interval', '1000', false)

-- name: session_set_async_commit
-- Commit without waiting for the WAL flush. Safe where losing the commit in a server crash only
-- means doing the work again (a webhook record lost: its lease ends and it is posted again).
SELECT set_config('synchronous_commit', 'off', true)
