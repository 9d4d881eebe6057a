# One image for every role (migrate, api, worker); docker-compose.yml picks the command.
FROM python:3.11-slim
WORKDIR /app
COPY pyproject.toml README.md wsgi.py ./
COPY orders ./orders
COPY tasks ./tasks
COPY sql ./sql
# The status log's directory belongs to the user the service runs as: an empty named volume
# mounted there (docker-compose.yml) starts with this directory's owner, so it is writable.
RUN pip install --no-cache-dir -e . \
    && mkdir -p /var/log/orders \
    && chown nobody:nogroup /var/log/orders
ENV ORDERS_LOG_FILE=/var/log/orders/orders.log
USER nobody
EXPOSE 8000
CMD ["orders", "api", "--bind", "0.0.0.0:8000"]
