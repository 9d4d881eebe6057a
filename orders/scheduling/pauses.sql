-- name: pause_apply
-- Pause all queues, a queue, an account or an order (sql/0062_pause.sql has the rules).
SELECT orders_pause(%(scope)s, %(target)s, %(operator)s, %(reason)s) AS changed;

-- name: pause_release
-- Resume what orders_pause paused; resumed orders get their run deferred in this transaction.
SELECT orders_resume(%(scope)s, %(target)s, %(operator)s) AS changed;

-- name: pause_list
-- What is paused now, queues and accounts first, then the oldest paused orders (each part of
-- the pauses view reads a small partial index; the LIMIT bounds many paused orders).
SELECT scope, target, paused_at, paused_by, reason
FROM pauses
ORDER BY scope = 'order', paused_at, target
LIMIT %(limit)s;

-- name: operator_action_list_recent
-- The latest pauses and resumes, newest first (index on at).
SELECT action_id, at, operator, action, scope, target, reason
FROM operator_actions
ORDER BY at DESC, action_id DESC
LIMIT %(limit)s;

-- name: order_pause_get
-- Whose order it is and who paused it, for a customer's resume.
SELECT user_id, paused_by FROM orders WHERE order_id = %(order_id)s;

-- name: queue_pause_names
-- The paused queues (a handful of rows): workers skip them when they fetch jobs.
SELECT queue_name FROM queue_pauses;
