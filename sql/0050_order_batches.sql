-- 0050: POST /orders/batch with an Idempotency-Key remembers the orders it created, to replay them.

CREATE TABLE order_batches (
    batch_id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id         bigint NOT NULL REFERENCES users (user_id) ON DELETE CASCADE,
    idempotency_key text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 255),
    request_hash    text NOT NULL,
    order_ids       bigint[] NOT NULL CHECK (cardinality(order_ids) >= 1),
    created_at      timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT order_batches_key_unique UNIQUE (user_id, idempotency_key)
);

COMMENT ON TABLE order_batches IS
    'Batches created through POST /orders/batch with an Idempotency-Key (unkeyed batches are not '
    'recorded): a retry with the same key answers with the same orders instead of creating more.';
COMMENT ON COLUMN order_batches.idempotency_key IS
    'Idempotency-Key header of the creating request (unique per user; a namespace of its own, '
    'apart from the keys of POST /orders).';
COMMENT ON COLUMN order_batches.request_hash IS
    'Hash of the creating request body, to refuse a reused key with another body.';
COMMENT ON COLUMN order_batches.order_ids IS 'The orders the batch created, in request order.';
