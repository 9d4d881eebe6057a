-- 0066: operators set an account's tier and fair-share weight with one audited function (the
-- triggers of 0060 re-level its waiting runs); operator_actions records it beside pauses.

ALTER TABLE operator_actions DROP CONSTRAINT operator_actions_action_check,
    ADD CONSTRAINT operator_actions_action_check CHECK (action IN ('pause', 'resume', 'set_tier'));
COMMENT ON COLUMN operator_actions.action IS 'pause | resume | set_tier (target: the account; reason: the new tier and weight)';

CREATE FUNCTION account_set_tier(p_email text, p_tier text, p_share_weight integer, p_operator text)
RETURNS TABLE (user_id bigint, email text, tier text, share_weight integer, waiting_runs integer)
LANGUAGE plpgsql AS $$
DECLARE
    account bigint;
    before integer;
BEGIN
    IF NOT EXISTS (SELECT FROM account_tiers t WHERE t.tier = p_tier) THEN
        RAISE EXCEPTION 'no tier %; the tiers are: %', p_tier,
              (SELECT string_agg(t.tier, ', ' ORDER BY t.priority_boost) FROM account_tiers t)
              USING ERRCODE = 'invalid_parameter_value', DETAIL = 'unknown_tier';
    END IF;
    SELECT u.user_id INTO account FROM users u WHERE lower(u.email) = lower(p_email) FOR UPDATE;
    IF account IS NULL THEN
        RAISE EXCEPTION 'no account %', p_email
              USING ERRCODE = 'no_data_found', DETAIL = 'account_not_found';
    END IF;
    SELECT count(*) INTO before FROM orders o JOIN procrastinate_jobs j ON j.id = o.job_id
    WHERE o.user_id = account AND j.status = 'todo';
    UPDATE users u SET tier = p_tier, share_weight = p_share_weight WHERE u.user_id = account;
    INSERT INTO operator_actions (operator, action, scope, target, reason)
    VALUES (p_operator, 'set_tier', 'account', p_email,
            format('tier %s, weight %s', p_tier, coalesce(p_share_weight::text, 'the tier''s')));
    RETURN QUERY
        SELECT a.user_id, u.email, a.tier, a.share_weight, before
        FROM account_levels a JOIN users u ON u.user_id = a.user_id WHERE a.user_id = account;
END
$$;
COMMENT ON FUNCTION account_set_tier(text, text, integer, text) IS
    'Give an account a tier and a fair-share weight (NULL: the tier''s), audited in '
    'operator_actions; its waiting runs are re-levelled at once. Returns the account, its '
    'effective weight and how many waiting runs it has. '
    'E.g. SELECT * FROM account_set_tier(''big@example.com'', ''vip'', NULL, ''operator:ana'');';
