-- 0060: priorities, account tiers and fair share between accounts (docs/operators.md,
-- "Priorities and fair share"). An order's run level is its priority plus its account tier's
-- boost; execution jobs carry it as their Procrastinate priority and name the account in their
-- args, so the batch executor claims level by level (strictly) and shares each batch between the
-- accounts that have due orders at that level (account_queue).

CREATE TABLE account_tiers (
    tier           text PRIMARY KEY CHECK (tier ~ '^[a-z][a-z0-9_-]{0,31}$'),
    priority_boost smallint NOT NULL CHECK (priority_boost BETWEEN 0 AND 6),
    share_weight   integer NOT NULL DEFAULT 1 CHECK (share_weight BETWEEN 1 AND 1000),
    description    text NOT NULL DEFAULT ''
);
COMMENT ON TABLE account_tiers IS
    'Service tiers operators give accounts (users.tier): a tier raises the run level of its '
    'accounts'' orders and weighs their share of each batch. Operators may add tiers.';
COMMENT ON COLUMN account_tiers.priority_boost IS
    'Added to each order''s priority (0-3) to give its run level (0-9): with a boost of 4 every '
    'order of the tier runs before any order of a tier with boost 0 due at the same time.';
COMMENT ON COLUMN account_tiers.share_weight IS
    'Default weight of the tier''s accounts in the fair share of a batch (users.share_weight '
    'overrides it per account): an account of weight 2 gets twice the runs of one of weight 1 '
    'when both have more orders due than a batch holds.';
INSERT INTO account_tiers (tier, priority_boost, share_weight, description) VALUES
    ('standard', 0, 1, 'Every account unless an operator says otherwise.'),
    ('vip', 4, 1, 'Served first: any vip order due runs before any standard order due.');

ALTER TABLE users
    ADD COLUMN tier text NOT NULL DEFAULT 'standard'
        REFERENCES account_tiers (tier) ON UPDATE CASCADE,
    ADD COLUMN share_weight integer CHECK (share_weight BETWEEN 1 AND 1000);
COMMENT ON COLUMN users.tier IS
    'Service tier (account_tiers); changing it re-levels the account''s waiting runs at once.';
COMMENT ON COLUMN users.share_weight IS
    'This account''s weight in the fair share of a batch; NULL: its tier''s share_weight.';
GRANT SELECT (tier, share_weight) ON users TO orders_readonly;

CREATE TYPE order_priority AS ENUM ('low', 'normal', 'high', 'urgent');
COMMENT ON TYPE order_priority IS
    'The customer''s priority of an order; with the account tier''s boost it gives the run level '
    '(orders_run_level): low 0, normal 1, high 2, urgent 3, plus the boost.';
ALTER TABLE orders ADD COLUMN priority order_priority NOT NULL DEFAULT 'normal';
COMMENT ON COLUMN orders.priority IS
    'The customer''s priority (low, normal: the default, high, urgent); its run level adds the '
    'account tier''s priority_boost (orders_run_level).';

CREATE FUNCTION orders_run_level(p_priority order_priority, p_boost integer) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT least(9, CASE p_priority WHEN 'low' THEN 0 WHEN 'normal' THEN 1 WHEN 'high' THEN 2
                                    ELSE 3 END + p_boost)
$$;
COMMENT ON FUNCTION orders_run_level(order_priority, integer) IS
    'Run level (0-9, higher first) of an order of this priority in a tier of this boost: the '
    'Procrastinate priority of its execution jobs. A plain expression, so queries inline it.';

CREATE VIEW account_levels AS
SELECT u.user_id, u.tier, t.priority_boost, coalesce(u.share_weight, t.share_weight) AS share_weight
FROM users u JOIN account_tiers t ON t.tier = u.tier;
COMMENT ON VIEW account_levels IS
    'Each account''s tier, priority boost and fair-share weight (its own or its tier''s).';

-- Which accounts have execution jobs waiting at each level, and from when: the fair claim reads
-- the due ones instead of walking every waiting job. A hint, never the truth: due_at is at or
-- before the account's earliest waiting job at that level (NULL: none known), and a job the hint
-- misses still runs, in due-time order, with what a batch has left (tasks/runs.py).
CREATE TABLE account_queue (
    level     smallint NOT NULL CHECK (level BETWEEN 0 AND 9),
    user_id   bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    due_at    timestamptz,
    served_at timestamptz,
    PRIMARY KEY (level, user_id)
);
CREATE INDEX account_queue_due_idx ON account_queue (level, due_at) WHERE due_at IS NOT NULL;
COMMENT ON TABLE account_queue IS
    'Accounts with execution jobs waiting, per run level: the batch executor shares each batch '
    'between the accounts whose due_at has come, least recently served first.';
COMMENT ON COLUMN account_queue.due_at IS
    'At or before the account''s earliest waiting execution job at this level; NULL: none waits.';
COMMENT ON COLUMN account_queue.served_at IS 'When a batch last ran orders of this account at this level.';

-- Execution jobs name their account: the fair claim finds an account's due jobs by this index.
-- Jobs deferred before this migration are given their account here.
UPDATE procrastinate_jobs j
SET args = j.args || jsonb_build_object('user_id', o.user_id)
FROM orders o
WHERE j.task_name = 'execute_order' AND j.status IN ('todo', 'doing')
  AND o.order_id = (j.args ->> 'order_id')::bigint;

-- Every new execution job makes sure its account is in account_queue at its level, early
-- enough. Once per statement (a batch's 500 next runs are one check); the row is written, and
-- so locked, only when it must move earlier, so workers deferring the same account's next runs
-- do not queue behind each other.
CREATE FUNCTION account_queue_note_jobs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO account_queue AS a (level, user_id, due_at)
    SELECT g.level, g.user_id, g.due_at
    FROM (SELECT n.priority AS level, (n.args ->> 'user_id')::bigint AS user_id,
                 min(coalesce(n.scheduled_at, now())) AS due_at
          FROM new_jobs n
          WHERE n.task_name = 'execute_order' AND n.status = 'todo' AND n.args ? 'user_id'
            AND n.priority BETWEEN 0 AND 9
          GROUP BY 1, 2) g
    WHERE NOT EXISTS (SELECT 1 FROM account_queue q
                      WHERE q.level = g.level AND q.user_id = g.user_id AND q.due_at <= g.due_at)
      AND EXISTS (SELECT 1 FROM users u WHERE u.user_id = g.user_id)
    ORDER BY g.level, g.user_id  -- one lock order for every writer
    ON CONFLICT (level, user_id) DO UPDATE SET due_at = least(a.due_at, excluded.due_at);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION account_queue_note_jobs() IS
    'Trigger: new execution jobs put their account in account_queue at their level.';
CREATE TRIGGER orders_account_queue_on_insert
    AFTER INSERT ON procrastinate_jobs REFERENCING NEW TABLE AS new_jobs
    FOR EACH STATEMENT EXECUTE FUNCTION account_queue_note_jobs();

-- Re-level the waiting runs of these accounts (a tier or boost changed) and note them in
-- account_queue at their new level.
CREATE FUNCTION account_queue_relevel(p_user_ids bigint[]) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    moved integer;
BEGIN
    UPDATE procrastinate_jobs j
    SET priority = orders_run_level(o.priority, a.priority_boost)
    FROM orders o JOIN account_levels a ON a.user_id = o.user_id
    WHERE o.user_id = ANY(p_user_ids) AND o.status IN ('scheduled', 'processing')
      AND j.id = o.job_id AND j.status = 'todo'
      AND j.priority IS DISTINCT FROM orders_run_level(o.priority, a.priority_boost);
    GET DIAGNOSTICS moved = ROW_COUNT;
    INSERT INTO account_queue AS a (level, user_id, due_at)
    SELECT j.priority, o.user_id, min(j.scheduled_at)
    FROM orders o JOIN procrastinate_jobs j ON j.id = o.job_id AND j.status = 'todo'
    WHERE o.user_id = ANY(p_user_ids) AND o.status IN ('scheduled', 'processing')
    GROUP BY 1, 2
    ORDER BY 1, 2
    ON CONFLICT (level, user_id) DO UPDATE SET due_at = least(a.due_at, excluded.due_at);
    RETURN moved;
END
$$;
COMMENT ON FUNCTION account_queue_relevel(bigint[]) IS
    'Give the waiting execution jobs of these accounts their current run level; returns how '
    'many moved. Called by the triggers on users.tier and account_tiers.priority_boost.';

CREATE FUNCTION users_relevel_on_tier() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM account_queue_relevel(ARRAY[NEW.user_id]);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION users_relevel_on_tier() IS 'Trigger: a new tier re-levels the account''s waiting runs.';
CREATE TRIGGER users_relevel_on_tier AFTER UPDATE OF tier ON users
    FOR EACH ROW WHEN (OLD.tier IS DISTINCT FROM NEW.tier)
    EXECUTE FUNCTION users_relevel_on_tier();

CREATE FUNCTION account_tiers_relevel() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM account_queue_relevel(ARRAY(SELECT user_id FROM users WHERE tier = NEW.tier));
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION account_tiers_relevel() IS 'Trigger: a tier''s new boost re-levels its accounts'' waiting runs.';
CREATE TRIGGER account_tiers_relevel AFTER UPDATE OF priority_boost ON account_tiers
    FOR EACH ROW WHEN (OLD.priority_boost IS DISTINCT FROM NEW.priority_boost)
    EXECUTE FUNCTION account_tiers_relevel();

-- An order's new priority applies to its waiting run (the API swaps the job anyway; this
-- covers an operator's UPDATE).
CREATE FUNCTION orders_relevel_on_priority() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE procrastinate_jobs
    SET priority = orders_run_level(NEW.priority, a.priority_boost)
    FROM account_levels a
    WHERE a.user_id = NEW.user_id AND id = NEW.job_id AND status = 'todo';
    INSERT INTO account_queue AS a (level, user_id, due_at)
    SELECT j.priority, NEW.user_id, j.scheduled_at
    FROM procrastinate_jobs j WHERE j.id = NEW.job_id AND j.status = 'todo'
    ON CONFLICT (level, user_id) DO UPDATE SET due_at = least(a.due_at, excluded.due_at);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION orders_relevel_on_priority() IS 'Trigger: an order''s new priority re-levels its waiting run.';
CREATE TRIGGER orders_relevel_on_priority AFTER UPDATE OF priority ON orders
    FOR EACH ROW WHEN (OLD.priority IS DISTINCT FROM NEW.priority)
    EXECUTE FUNCTION orders_relevel_on_priority();

-- Existing waiting jobs: their level from their order and account, and their accounts noted.
SELECT account_queue_relevel(ARRAY(SELECT DISTINCT user_id FROM orders
                                   WHERE status IN ('scheduled', 'processing')));
