from orders.cli.main import main

main()
