"""Every kind of mail confapp sends. Whatever sends queued mail (an app process's housekeeping,
`confapp mail`) imports this, so the outbox knows a builder for each kind; importing a domain's
mail module registers its builders (see confapp.outbox.mail_builder)."""

from __future__ import annotations

from confapp.accounts import links as account_mail
from confapp.notices import service as notice_mail
from confapp.programme import change_mail as programme_change_mail
from confapp.registration import mail as attendee_mail
from confapp.registration import voucher_setup as voucher_mail

MAIL_MODULES = (attendee_mail, account_mail, notice_mail, programme_change_mail, voucher_mail)
