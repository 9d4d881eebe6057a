-- 0062: pause and resume execution (everything, a queue, an account, an order), audited.
-- Paused is a flag, never a status: a paused order stays `scheduled` with its next_run_at.

ALTER TABLE orders ADD COLUMN paused_at timestamptz, ADD COLUMN paused_by text;
COMMENT ON COLUMN orders.paused_at IS
    'Set while the order is paused (orders_pause): its due runs are not run, its job is retired; '
    'it keeps status scheduled and next_run_at. NULL: not paused.';
COMMENT ON COLUMN orders.paused_by IS 'Who paused the order (operator:<name>, admin:<id>, user:<id>).';

ALTER TABLE users ADD COLUMN paused_at timestamptz, ADD COLUMN paused_by text;
COMMENT ON COLUMN users.paused_at IS
    'Set while the account is paused (orders_pause(''account'', ...)): none of its orders run.';
COMMENT ON COLUMN users.paused_by IS 'Who paused the account.';
GRANT SELECT (paused_at, paused_by) ON users TO orders_readonly;
-- The claim reads the paused accounts once per batch: this index holds only them.
CREATE INDEX users_paused_idx ON users (user_id) WHERE paused_at IS NOT NULL;

CREATE TABLE queue_pauses (
    queue_name text PRIMARY KEY CHECK (queue_name <> 'maintenance'),
    paused_at  timestamptz NOT NULL DEFAULT now(),
    paused_by  text NOT NULL,
    reason     text
);
COMMENT ON TABLE queue_pauses IS
    'Paused queues, one row each: the executor claims no order run while `orders` is here, '
    'workers fetch no job of a paused mail or webhooks queue; jobs wait and run on resume. The '
    'maintenance queue can never be paused.';
COMMENT ON COLUMN queue_pauses.queue_name IS 'orders, mail or webhooks (never maintenance).';
COMMENT ON COLUMN queue_pauses.paused_at IS 'When it was paused.';
COMMENT ON COLUMN queue_pauses.paused_by IS 'Who paused it.';
COMMENT ON COLUMN queue_pauses.reason IS 'Why, as the operator said.';

CREATE TABLE operator_actions (
    action_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    operator  text NOT NULL CHECK (operator <> ''),
    action    text NOT NULL CHECK (action IN ('pause', 'resume')),
    scope     text NOT NULL CHECK (scope IN ('all', 'queue', 'account', 'order')),
    target    text,
    reason    text
);
CREATE INDEX operator_actions_at_idx ON operator_actions (at);
COMMENT ON TABLE operator_actions IS
    'Audit of operator actions that are not order changes: every pause and resume of any scope '
    '(order pauses also land in order_events). Written by orders_pause and orders_resume.';
COMMENT ON COLUMN operator_actions.at IS 'When (the transaction''s time).';
COMMENT ON COLUMN operator_actions.operator IS 'Who: operator:<name> (CLI), admin:<id> (dashboard), user:<id>, or as given in SQL.';
COMMENT ON COLUMN operator_actions.action IS 'pause | resume';
COMMENT ON COLUMN operator_actions.scope IS 'all | queue | account | order';
COMMENT ON COLUMN operator_actions.target IS 'Queue name, account email or order id; for all: the queues it changed.';
COMMENT ON COLUMN operator_actions.reason IS 'Why, as the operator said (pauses).';

-- Queues that can be paused: every queue but maintenance (tasks/app.py QUEUES + orders).
CREATE FUNCTION orders_pausable_queues() RETURNS text[] LANGUAGE sql IMMUTABLE AS $$
    SELECT ARRAY['orders', 'mail', 'webhooks']
$$;
COMMENT ON FUNCTION orders_pausable_queues() IS
    'The queues orders_pause can pause ("all" pauses these); maintenance is never one of them.';

CREATE FUNCTION orders_pause_check(scope text, target text, operator text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(btrim(operator), '') = '' THEN
        RAISE EXCEPTION 'an operator name is required'
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'operator_required';
    END IF;
    IF scope IS NULL OR scope NOT IN ('all', 'queue', 'account', 'order') THEN
        RAISE EXCEPTION 'unknown scope %: use all, queue, account or order', coalesce(scope, 'NULL')
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'unknown_scope';
    END IF;
    IF scope <> 'all' AND coalesce(btrim(target), '') = '' THEN
        RAISE EXCEPTION 'a % needs a target', scope
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'target_required';
    END IF;
    IF scope = 'queue' AND target = 'maintenance' THEN
        RAISE EXCEPTION 'the maintenance queue cannot be paused'
            USING ERRCODE = 'check_violation', DETAIL = 'not_pausable';
    END IF;
    IF scope = 'queue' AND NOT target = ANY (orders_pausable_queues()) THEN
        RAISE EXCEPTION 'unknown queue %: use orders, mail or webhooks', target
            USING ERRCODE = 'no_data_found', DETAIL = 'unknown_queue';
    END IF;
    IF scope = 'order' AND target !~ '^\s*[0-9]{1,18}\s*$' THEN
        RAISE EXCEPTION 'an order id is a number, not %', target
            USING ERRCODE = 'invalid_parameter_value', DETAIL = 'invalid_order_id';
    END IF;
END;
$$;
COMMENT ON FUNCTION orders_pause_check(text, text, text) IS
    'Refuses a bad pause/resume request with a clear message (22023 bad input, 23514 maintenance, '
    'P0002 unknown queue).';

-- Audit an order change as `who`, with `why`, for this statement only (the caller's settings
-- come back afterwards, so a surrounding transaction keeps its own actor).
CREATE FUNCTION orders_pause_order_flag(order_id bigint, who text, why text, pause boolean)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    actor text := current_setting('orders.actor', true);
    reason text := current_setting('orders.reason', true);
BEGIN
    PERFORM set_config('orders.actor', who, true), set_config('orders.reason', why, true);
    UPDATE orders o
    SET paused_at = CASE WHEN pause THEN now() END, paused_by = CASE WHEN pause THEN who END
    WHERE o.order_id = orders_pause_order_flag.order_id;
    PERFORM set_config('orders.actor', coalesce(actor, ''), true),
            set_config('orders.reason', coalesce(reason, ''), true);
END;
$$;
COMMENT ON FUNCTION orders_pause_order_flag(bigint, text, text, boolean) IS
    'Sets or clears an order''s pause flag, audited in order_events as `who` with reason `why`.';

-- The run of each resumed order that has no waiting job, due at its next_run_at (or now if
-- that passed: the run then applies the order's missed-run policy). One Procrastinate job
-- each, as the API defers them (queue orders, queueing lock order:<id>, its run level and
-- account: 0060).
CREATE FUNCTION orders_defer_resumed(order_ids bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    run_at timestamptz[];
    job_ids bigint[];
BEGIN
    SELECT array_agg(o.order_id ORDER BY o.order_id),
           array_agg(greatest(o.next_run_at, now()) ORDER BY o.order_id)
    INTO ids, run_at
    FROM orders o
    WHERE o.order_id = ANY (order_ids) AND o.status = 'scheduled' AND o.paused_at IS NULL
      AND o.next_run_at IS NOT NULL
      AND NOT EXISTS (SELECT FROM procrastinate_jobs j
                      WHERE j.queueing_lock = 'order:' || o.order_id AND j.status = 'todo');
    IF ids IS NULL THEN
        RETURN 0;
    END IF;
    job_ids := procrastinate_defer_jobs_v1(ARRAY(
        SELECT ROW('orders', 'execute_order', orders_run_level(o.priority, a.priority_boost),
                   NULL, 'order:' || r.order_id,
                   jsonb_build_object('order_id', r.order_id, 'user_id', o.user_id),
                   r.run_at)::procrastinate_job_to_defer_v1
        FROM unnest(ids, run_at) WITH ORDINALITY AS r(order_id, run_at, n)
        JOIN orders o ON o.order_id = r.order_id
        JOIN account_levels a ON a.user_id = o.user_id
        ORDER BY r.n));
    UPDATE orders o SET job_id = r.job_id, updated_at = now()
    FROM unnest(ids, job_ids) AS r(order_id, job_id)
    WHERE o.order_id = r.order_id;
    RETURN cardinality(ids);
END;
$$;
COMMENT ON FUNCTION orders_defer_resumed(bigint[]) IS
    'Defers the next run of each given scheduled, unpaused order that has no waiting job, due at '
    'greatest(next_run_at, now()); returns how many. Called by orders_resume.';

CREATE FUNCTION orders_pause_target(scope text, target text, pause boolean) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    found_id bigint;
    is_paused boolean;
    status order_status;
BEGIN
    IF scope = 'account' THEN
        SELECT u.user_id, u.paused_at IS NOT NULL INTO found_id, is_paused
        FROM users u WHERE lower(u.email) = lower(btrim(target)) FOR UPDATE;
    ELSE
        SELECT o.order_id, o.paused_at IS NOT NULL, o.status INTO found_id, is_paused, status
        FROM orders o WHERE o.order_id = btrim(target)::bigint FOR UPDATE;
    END IF;
    IF found_id IS NULL THEN
        RAISE EXCEPTION '% % not found', scope, target
            USING ERRCODE = 'no_data_found', DETAIL = 'not_found';
    ELSIF pause AND is_paused THEN
        RAISE EXCEPTION '% % is already paused', scope, target
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'already_paused';
    ELSIF NOT pause AND NOT is_paused THEN
        RAISE EXCEPTION '% % is not paused', scope, target
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'not_paused';
    ELSIF pause AND status IS NOT NULL AND status <> 'scheduled' THEN
        RAISE EXCEPTION 'order % is %: only scheduled orders can be paused', target, status
            USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'order_not_scheduled';
    END IF;
    RETURN found_id::text;
END;
$$;
COMMENT ON FUNCTION orders_pause_target(text, text, boolean) IS
    'Locks the account (by email) or order a pause/resume names and returns its id; refuses '
    'unknown (P0002), already paused / not paused / not scheduled (55000).';

CREATE FUNCTION orders_pause(scope text, target text, operator text, reason text DEFAULT NULL)
RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
    changed text[];
    id text;
BEGIN
    PERFORM orders_pause_check(scope, target, operator);
    IF scope IN ('all', 'queue') THEN
        WITH added AS (
            INSERT INTO queue_pauses (queue_name, paused_at, paused_by, reason)
            SELECT q, now(), operator, reason FROM unnest(orders_pausable_queues()) AS q
            WHERE scope = 'all' OR q = target
            ON CONFLICT (queue_name) DO NOTHING
            RETURNING queue_name)
        SELECT array_agg(queue_name ORDER BY queue_name) INTO changed FROM added;
        IF changed IS NULL THEN
            RAISE EXCEPTION '% is already paused', CASE WHEN scope = 'all' THEN 'every queue'
                                                        ELSE 'queue ' || target END
                USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'already_paused';
        END IF;
    ELSE
        id := orders_pause_target(scope, target, true);
        IF scope = 'account' THEN
            UPDATE users SET paused_at = now(), paused_by = operator WHERE user_id = id::bigint;
        ELSE
            PERFORM orders_pause_order_flag(id::bigint, operator, coalesce(reason, 'paused'), true);
        END IF;
        changed := ARRAY[btrim(target)];
    END IF;
    INSERT INTO operator_actions (operator, action, scope, target, reason)
    VALUES (operator, 'pause', scope, array_to_string(changed, ','), reason);
    RETURN changed;
END;
$$;
COMMENT ON FUNCTION orders_pause(text, text, text, text) IS
$$Pause execution, audited in operator_actions (orders also in order_events). Returns what it paused.
  SELECT orders_pause('all', NULL, 'operator:ada', 'database upgrade');  -- orders, mail, webhooks
  SELECT orders_pause('queue', 'webhooks', 'operator:ada', 'receiver down');
  SELECT orders_pause('account', 'bob@example.com', 'operator:ada', 'card declined');
  SELECT orders_pause('order', '42', 'operator:ada');
A paused order keeps status scheduled and next_run_at; its due job is retired without running.
Errors: 22023 bad scope/input, 23514 the maintenance queue, P0002 unknown queue/account/order,
55000 already paused or order not scheduled.$$;

CREATE FUNCTION orders_resume(scope text, target text, operator text) RETURNS text[]
LANGUAGE plpgsql AS $$
DECLARE
    changed text[];
    id text;
BEGIN
    PERFORM orders_pause_check(scope, target, operator);
    IF scope IN ('all', 'queue') THEN
        WITH removed AS (
            DELETE FROM queue_pauses WHERE scope = 'all' OR queue_name = target
            RETURNING queue_name)
        SELECT array_agg(queue_name ORDER BY queue_name) INTO changed FROM removed;
        IF changed IS NULL THEN
            RAISE EXCEPTION '% paused', CASE WHEN scope = 'all' THEN 'no queue is'
                                             ELSE 'queue ' || target || ' is not' END
                USING ERRCODE = 'object_not_in_prerequisite_state', DETAIL = 'not_paused';
        END IF;
        -- wake the workers now rather than at their next poll (Procrastinate's channel format)
        PERFORM pg_notify('procrastinate_queue_v1#' || q, '{"type": "job_inserted"}')
        FROM unnest(changed) AS q;
    ELSE
        id := orders_pause_target(scope, target, false);
        IF scope = 'account' THEN
            UPDATE users SET paused_at = NULL, paused_by = NULL WHERE user_id = id::bigint;
            PERFORM orders_defer_resumed(ARRAY(
                SELECT order_id FROM orders
                WHERE user_id = id::bigint AND status = 'scheduled' AND paused_at IS NULL));
        ELSE
            PERFORM orders_pause_order_flag(id::bigint, operator, 'resumed', false);
            PERFORM orders_defer_resumed(ARRAY(
                SELECT o.order_id FROM orders o JOIN users u USING (user_id)
                WHERE o.order_id = id::bigint AND u.paused_at IS NULL));
        END IF;
        changed := ARRAY[btrim(target)];
    END IF;
    INSERT INTO operator_actions (operator, action, scope, target)
    VALUES (operator, 'resume', scope, array_to_string(changed, ','));
    RETURN changed;
END;
$$;
COMMENT ON FUNCTION orders_resume(text, text, text) IS
$$Resume what orders_pause paused, audited in operator_actions (orders also in order_events).
  SELECT orders_resume('all', NULL, 'operator:ada');       -- every paused queue
  SELECT orders_resume('queue', 'webhooks', 'operator:ada');
  SELECT orders_resume('account', 'bob@example.com', 'operator:ada');
  SELECT orders_resume('order', '42', 'operator:ada');
An account's or order's scheduled orders get a job due at greatest(next_run_at, now()) (the run
applies the order's missed-run policy); a queue's waiting jobs simply run. Errors as orders_pause,
and 55000 when the target is not paused.$$;

CREATE VIEW pauses AS
SELECT 'queue' AS scope, queue_name AS target, paused_at, paused_by, reason FROM queue_pauses
UNION ALL
SELECT 'account', email, paused_at, paused_by, NULL FROM users WHERE paused_at IS NOT NULL
UNION ALL
SELECT 'order', order_id::text, paused_at, paused_by, NULL FROM orders WHERE paused_at IS NOT NULL;
COMMENT ON VIEW pauses IS 'Everything paused now: queues, accounts and orders, with who and when.';
GRANT SELECT ON pauses TO orders_readonly;

-- Paused orders are never stuck: their job was retired on purpose and comes back on resume.
CREATE INDEX orders_paused_idx ON orders (order_id) WHERE paused_at IS NOT NULL;
CREATE OR REPLACE VIEW orders_stuck AS
SELECT o.order_id, o.user_id, o.order_name, o.status, o.next_run_at,
       now() - o.next_run_at AS late_by, o.job_id,
       coalesce(j.status::text, 'missing') AS job_status, o.updated_at
FROM orders o
LEFT JOIN procrastinate_jobs j ON j.id = o.job_id
WHERE ((o.status = 'scheduled' AND o.next_run_at <= now()
        AND (j.id IS NULL OR j.status NOT IN ('todo', 'doing')))
       OR (o.status = 'processing' AND (j.id IS NULL OR j.status <> 'doing')))
  AND o.paused_at IS NULL
  AND NOT EXISTS (SELECT FROM users u WHERE u.user_id = o.user_id AND u.paused_at IS NOT NULL);
COMMENT ON VIEW orders_stuck IS
    'Orders no job will run: scheduled and due with a missing, failed or cancelled job, or '
    'processing without a running job; paused orders (or of a paused account) are not stuck. '
    'recover_stuck_orders re-defers the scheduled ones.';
