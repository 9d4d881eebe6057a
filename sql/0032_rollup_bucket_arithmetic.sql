-- 0032: a run's histogram bucket by arithmetic (width_bucket) instead of a sorted scan of the
-- bounds per value: the rollup trigger of a 500-run batch took ~70 ms, a third of the batch.
-- It also fixes the answer: the scan sorted the bounds as text ('10' before '2.5'), so 2.5 s
-- landed in the 10 s bucket. Now: the smallest bound not below x, else '+Inf'.
CREATE OR REPLACE FUNCTION rollup_bucket(x float8) RETURNS text LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT coalesce(
        (rollup_bounds())[width_bucket(x, rollup_bounds())
                          + CASE WHEN x = (rollup_bounds())[width_bucket(x, rollup_bounds())]
                                 THEN 0 ELSE 1 END]::text,
        '+Inf')
$$;
