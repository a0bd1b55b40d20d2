"""`python app.py`: the assistant in a web page, served on this computer only (see `python app.py --help`)."""

from gdpr_assistant.interfaces.app import main

if __name__ == "__main__":
    main()
