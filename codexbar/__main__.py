from codexbar.cli import main

main()
