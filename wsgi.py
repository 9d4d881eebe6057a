from orders.web.app import create_app

app = create_app()
