-- 0067: a paused order will not run, so it has no upcoming runs (0062, 0063): pausing an order or
-- an account forgets them; resuming hands them back to the upkeep, which writes them again at
-- its next pass (ORDERS_UPCOMING_CRON, every minute).

CREATE FUNCTION upcoming_follow_order_pause() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.paused_at IS NOT NULL THEN
        DELETE FROM upcoming_runs WHERE order_id = NEW.order_id;
        NEW.upcoming_until := upcoming_all_written();  -- out of the upkeep's way while paused
    ELSE
        NEW.upcoming_until := upcoming_not_expanded();  -- to be written again
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION upcoming_follow_order_pause() IS
    'Trigger: a paused order''s upcoming runs are forgotten; a resumed one''s written again.';
CREATE TRIGGER orders_upcoming_on_pause BEFORE UPDATE OF paused_at ON orders
    FOR EACH ROW WHEN ((OLD.paused_at IS NULL) <> (NEW.paused_at IS NULL))
    EXECUTE FUNCTION upcoming_follow_order_pause();

CREATE FUNCTION upcoming_follow_account_pause() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.paused_at IS NOT NULL THEN
        DELETE FROM upcoming_runs WHERE user_id = NEW.user_id;
    ELSE
        UPDATE orders SET upcoming_until = upcoming_not_expanded()
        WHERE user_id = NEW.user_id AND status IN ('scheduled', 'processing')
          AND paused_at IS NULL;
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION upcoming_follow_account_pause() IS
    'Trigger: a paused account''s upcoming runs are forgotten; a resumed one''s written again.';
CREATE TRIGGER users_upcoming_on_pause AFTER UPDATE OF paused_at ON users
    FOR EACH ROW WHEN ((OLD.paused_at IS NULL) <> (NEW.paused_at IS NULL))
    EXECUTE FUNCTION upcoming_follow_account_pause();
