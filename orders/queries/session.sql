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

-- name: session_begin_run
-- A worker's run: name the actor for the audit trigger, and commit without waiting for the
-- WAL flush. Safe: Procrastinate's synchronous finish_job commit comes after and flushes the
-- WAL past this transaction; if the server crashes before that, the job is still 'doing' and
-- is retried, and the run happens once.
SELECT set_config('orders.actor', %(actor)s, true),
       set_config('synchronous_commit', 'off', true)

-- name: session_set_async_commit
-- Commit without waiting for the WAL flush. Safe where losing the commit in a server crash only
-- means doing the work again (a webhook record lost: its lease ends and it is posted again).
SELECT set_config('synchronous_commit', 'off', true)
