"""Synthetic inboxes: open the message a goal names, answer its question."""

from __future__ import annotations

from traj.prompt import AgentAction
from traj.tiny._builder import FIRST_NAMES, LAST_NAMES, OPTIONS, Builder, Elements, SyntheticPage, page_text, value_of

__all__ = ["build_inbox"]


_QUESTIONS = (
    ("the meeting time", "time"),
    ("the invoice amount", "money"),
    ("the confirmation code", "code"),
    ("the meeting room", "room"),
)


def build_inbox(b: Builder) -> None:
    s, v = b.structure, b.values
    app = s.choice(("Planwise", "Mailbox", "Postal"))
    folders = s.sample(["Inbox", "Starred", "Archive", "Sent", "Spam"], s.randint(2, 4))
    open_inbox_first = s.random() < 0.3
    count = v.randint(14, 24) if b.long else v.randint(3, 8)
    senders = v.sample([f"{first} {last}" for first in FIRST_NAMES for last in LAST_NAMES], count)
    subjects = [f"{value_of('phrase', v)}" for _ in senders]
    question, kind = v.choice(_QUESTIONS)
    pick = v.randrange(count)
    answer = {
        "time": f"{v.randint(8, 17):02d}:{v.choice((0, 15, 30, 45)):02d}",
        "money": f"${v.randint(10, 999)}.{v.randint(0, 99):02d}",
        "code": f"{v.choice('ABCDEFGHK')}{v.randint(100, 999)}{v.choice('QRSTXYZ')}",
        "room": v.choice(OPTIONS["Room"]),
    }[kind]
    b.goal = f"Read the email from {senders[pick]} and tell me {question}."

    def page_elements() -> tuple[Elements, dict[str, str], list[str]]:
        page = Elements()
        page.links(["Mail", "Calendar"], "/", b.seed, "Mail")
        page.add("searchbox", "Search mail", "input")
        folder_ids = {
            name: page.add("button", f"{name} {count}" if name == "Inbox" else name, "button") for name in folders
        }
        message_ids = [
            page.add("button", f"Email from {who}: {what}", "button")
            for who, what in zip(senders, subjects, strict=True)
        ]
        return page, folder_ids, message_ids

    page, folder_ids, message_ids = page_elements()
    url = b.url("/inbox/")
    listing = [f"{who}\n{what}" for who, what in zip(senders, subjects, strict=True)]
    text = page_text(b, app, [app, "Mail", "Calendar", *folders, *listing, "Select a message to read it."])
    if open_inbox_first and "Inbox" in folder_ids:
        b.act(SyntheticPage(url, text, page.items), AgentAction("CLICK", folder_ids["Inbox"]), "Open the inbox first.")
    b.act(
        SyntheticPage(url, text, page.items),
        AgentAction("CLICK", message_ids[pick]),
        f"The email from {senders[pick]} holds the answer.",
    )
    body = {
        "time": f"Could we meet on Thursday? The meeting starts at {answer}.",
        "money": f"Your invoice of {answer} is ready.",
        "code": f"Your confirmation code is {answer}.",
        "room": f"We will meet in room {answer}.",
    }[kind]
    reading = [app, *listing, f"From: {senders[pick]}", f"Subject: {subjects[pick]}", f"Hi, {body} Best regards"]
    b.act(
        SyntheticPage(url, page_text(b, app, reading), page.items),
        AgentAction("FINISH", None, answer),
        "The email answers the question.",
    )
