"""One error vocabulary for the till, the sync client and HQ.

Every error the product raises on purpose derives from :class:`ChainPosError` and carries
a machine ``code`` (a stable snake_case key, never shown as such) and ``params`` (the values
a message needs: amounts in fen, item names, dates). HQ's answers carry the same ``code``
and ``params`` on the wire, so a refusal reads the same whichever side found it. The UI
turns ``code`` + ``params`` into zh_CN or en text in one place; a test fails when a code
has no text in either language.

Pure standard library: the domain imports this module.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    """Every machine code the product raises or HQ answers; ``error.<code>`` in both
    translation catalogues (a test fails when one is missing).

    A code names what went wrong for the person in front of the screen, not where: the
    same ``bad_amount`` comes from the tender, the money parser and a hold.
    """

    # Cart (pos_app.domain.cart)
    BAD_DISCOUNT = "bad_discount"
    BAD_QUANTITY = "bad_quantity"
    TOO_MANY_LINES = "too_many_lines"
    NO_LINE = "no_line"
    FIXED_LINE = "fixed_line"
    EMPTY_CART = "empty_cart"
    # Money and tenders (pos_app.domain.money, pos_app.domain.tender)
    BAD_AMOUNT = "bad_amount"
    TOO_MUCH_CASH = "too_much_cash"
    ALREADY_PAID = "already_paid"
    CARD_OVER = "card_over"
    BAD_KIND = "bad_kind"
    ACCOUNT_OVER = "account_over"
    # Receipt codes (pos_app.domain.ids)
    SALE_REF_INVALID = "sale_ref_invalid"
    SALE_REF_FORGED = "sale_ref_forged"
    # Staff PINs (pos_app.domain.pin; HQ answers bad_pin too)
    BAD_PIN = "bad_pin"
    BAD_PIN_HASH = "bad_pin_hash"
    # Barcodes (pos_app.domain.barcode); a scan refused by the catalogue is bad_barcode
    # with the barcode's own code in params["reason"]
    EMPTY = "empty"
    BAD_CHAR = "bad_char"
    BAD_LENGTH = "bad_length"
    BAD_CHECK_DIGIT = "bad_check_digit"
    BAD_PRICE_CHECK = "bad_price_check"
    UNKNOWN_AI = "unknown_ai"
    TRUNCATED = "truncated"
    BAD_AI_VALUE = "bad_ai_value"
    TOO_LONG = "too_long"
    DUPLICATE_AI = "duplicate_ai"
    NO_GTIN = "no_gtin"
    # The "6*" count before a scan (pos_app.domain.barcode.split_multiplier)
    BAD_MULTIPLIER = "bad_multiplier"
    MULTIPLIER_TOO_BIG = "multiplier_too_big"
    MULTIPLIER_NOT_PIECES = "multiplier_not_pieces"
    # Member codes (sync_client.contract.membercode)
    MEMBER_CODE_MALFORMED = "member_code_malformed"
    MEMBER_CODE_FORGED = "member_code_forged"
    MEMBER_CODE_EXPIRED = "member_code_expired"
    # Scanning and selling (pos_app.services.catalog, checkout)
    BAD_BARCODE = "bad_barcode"
    UNKNOWN_CODE = "unknown_code"
    NEEDS_WEIGHT = "needs_weight"
    BAD_WEIGHT = "bad_weight"
    WEIGHED_QUANTITY = "weighed_quantity"
    BAD_LABEL = "bad_label"
    NO_PRICE = "no_price"
    NOT_PAID = "not_paid"
    COUPON_MIN_SPEND = "coupon_min_spend"
    COMMIT_FAILED = "commit_failed"
    SALE_INVALID = "sale_invalid"
    PHONE_UNDECRYPTABLE = "phone_undecryptable"
    TOTAL_CHANGED = "total_changed"
    UNKNOWN_HOLD = "unknown_hold"
    SALE_IN_PROGRESS = "sale_in_progress"
    NO_LAST_SALE = "no_last_sale"
    BAD_AMOUNT_TENDER = "bad_amount_tender"
    DISCOUNT_OVER_LIMIT = "discount_over_limit"
    # Staff (pos_app.services.auth, printing, device_settings)
    WRONG_PIN = "wrong_pin"
    LOCKED = "locked"
    UNKNOWN_STAFF = "unknown_staff"
    INACTIVE = "inactive"
    OTHER_STORE = "other_store"
    CORRUPT_RECORD = "corrupt_record"
    NOT_SUPERVISOR = "not_supervisor"
    NOT_MANAGER = "not_manager"
    # Device settings (pos_app.services.device_settings)
    BAD_AFFIX = "bad_affix"
    BAD_BACKEND = "bad_backend"
    BAD_BAUDRATE = "bad_baudrate"
    BAD_DEVICE = "bad_device"
    BAD_HOST = "bad_host"
    BAD_PATH = "bad_path"
    BAD_PORT = "bad_port"
    BAD_PROFILE = "bad_profile"
    BAD_THRESHOLD = "bad_threshold"
    BAD_USB_ID = "bad_usb_id"
    # Members: the till's own (pos_app.services.members, pos_app.domain.member)
    OFFLINE = "offline"
    NEEDS_CODE = "needs_code"
    CODE_STALE = "code_stale"
    NOT_MEMBER_CODE = "not_member_code"
    UNKNOWN_OFFLINE = "unknown_offline"
    DEVICE_REVOKED = "device_revoked"
    HQ_REFUSED = "hq_refused"
    BAD_NAME = "bad_name"
    HOLD_RELEASED = "hold_released"
    NO_MEMBER = "no_member"
    TOPUP_NEEDS_MEMBER = "topup_needs_member"
    TOPUP_TENDERS = "topup_tenders"
    # Members: HQ's refusals (server_stub.members)
    MEMBER_CODE_INVALID = "member_code_invalid"
    CARD_REPLACED = "card_replaced"
    UNKNOWN_MEMBER = "unknown_member"
    MEMBER_INACTIVE = "member_inactive"
    BAD_PHONE = "bad_phone"
    PHONE_REGISTERED = "phone_registered"
    TOO_MANY_LOOKUPS = "too_many_lookups"
    INSUFFICIENT_POINTS = "insufficient_points"
    POINTS_HELD_ELSEWHERE = "points_held_elsewhere"
    INSUFFICIENT_BALANCE = "insufficient_balance"
    COUPON_UNAVAILABLE = "coupon_unavailable"
    UNKNOWN_COUPON = "unknown_coupon"
    MEMBER_CODE_REQUIRED = "member_code_required"
    MEMBER_CODE_MISMATCH = "member_code_mismatch"
    CONSENT_REQUIRED = "consent_required"
    AMOUNT_TOO_SMALL = "amount_too_small"
    HOLD_CAPTURED = "hold_captured"
    HOLD_CONFLICT = "hold_conflict"
    SEARCH_EMPTY = "search_empty"
    # The link to HQ (sync_client)
    HQ_UNAVAILABLE = "hq_unavailable"
    RESYNC_NEEDED = "resync_needed"
    CREDENTIALS_UNAVAILABLE = "credentials_unavailable"
    # Enrolment (sync_client, pos_app.services.enrollment, HQ)
    ENROLL_CODE_INVALID = "enroll_code_invalid"
    ENROLL_CODE_USED = "enroll_code_used"
    ENROLL_CODE_EXPIRED = "enroll_code_expired"
    UNKNOWN_STORE = "unknown_store"
    WRONG_STORE = "wrong_store"
    UNREACHABLE = "unreachable"
    BAD_ADDRESS = "bad_address"
    BAD_QR = "bad_qr"
    BAD_ANSWER = "bad_answer"
    INVALID_REQUEST = "invalid_request"
    STORAGE = "storage"
    # HQ's other answers (server_stub: ErrorBody.code)
    UNAUTHORISED = "unauthorised"
    INVALID_TOKEN = "invalid_token"
    TOKEN_EXPIRED = "token_expired"
    TOKEN_REVOKED = "token_revoked"
    UNKNOWN_TOKEN = "unknown_token"
    TOKEN_EXISTS = "token_exists"
    FORBIDDEN = "forbidden"
    BAD_REQUEST = "bad_request"
    BAD_ENCODING = "bad_encoding"
    BODY_TOO_LARGE = "body_too_large"
    UNSUPPORTED_MEDIA_TYPE = "unsupported_media_type"
    INVALID_VALUE = "invalid_value"
    BAD_SETTING = "bad_setting"
    UNKNOWN_SETTING = "unknown_setting"
    BAD_VALIDITY = "bad_validity"
    NAIVE_TIME = "naive_time"
    EFFECTIVE_IN_PAST = "effective_in_past"
    NOTHING_TO_CHANGE = "nothing_to_change"
    RESYNC = "resync"
    STAFF_EXISTS = "staff_exists"
    STORE_EXISTS = "store_exists"
    STORE_REQUIRED = "store_required"
    UNKNOWN_DEVICE = "unknown_device"
    UNKNOWN_SKU = "unknown_sku"
    # HQ's answer to one pushed event (sync_client.contract.protocol.RejectReason)
    INVALID = "invalid"
    UNKNOWN_TYPE = "unknown_type"
    SALE_EXISTS = "sale_exists"
    UNKNOWN_SALE = "unknown_sale"
    ALREADY_VOIDED = "already_voided"
    NOT_AUTHORISED = "not_authorised"
    CONFLICT = "conflict"
    TOPUP_EXISTS = "topup_exists"
    BAD_TRANSITION = "bad_transition"
    UNKNOWN_TRANSFER = "unknown_transfer"
    UNKNOWN_COUNT = "unknown_count"
    UNKNOWN_ALERT = "unknown_alert"
    # Anything else: a fault, not a refusal
    GENERIC = "generic"
    # What an operating system or library said, in words (pos_app.ui.errors.system_text):
    # a device's link (printer, drawer, label printer, scanner port)...
    DEVICE_REFUSED = "device_refused"
    DEVICE_TIMEOUT = "device_timeout"
    DEVICE_UNREACHABLE = "device_unreachable"
    DEVICE_BAD_ADDRESS = "device_bad_address"
    DEVICE_NOT_FOUND = "device_not_found"
    DEVICE_PERMISSION = "device_permission"
    DEVICE_BUSY = "device_busy"
    DEVICE_IO = "device_io"
    DEVICE_DRIVER = "device_driver"
    DEVICE_FAULT = "device_fault"
    # ...and the link to HQ
    HQ_LINK_REFUSED = "hq_link_refused"
    HQ_LINK_TIMEOUT = "hq_link_timeout"
    HQ_LINK_DOWN = "hq_link_down"
    HQ_LINK_TLS = "hq_link_tls"
    HQ_LINK_HTTP = "hq_link_http"
    HQ_LINK_FAULT = "hq_link_fault"

    # The menu (pos_app.domain.menu, pos_app.services.menu, server_stub.menu)
    OPTION_REQUIRED = "option_required"
    TOO_MANY_OPTIONS = "too_many_options"
    UNKNOWN_OPTION = "unknown_option"
    SOLD_OUT = "sold_out"
    MENU_CHANGED = "menu_changed"
    NOT_REPEATABLE = "not_repeatable"
    INVALID_MENU = "invalid_menu"

    # Promotions (sync_client.contract.promotions, server_stub.promotions)
    INVALID_PROMOTION = "invalid_promotion"
    UNKNOWN_PROMOTION = "unknown_promotion"

    # Added with shifts, returns and security work
    BAD_COUNT = "bad_count"
    BAD_DENOMINATION = "bad_denomination"
    BAD_DIRECTION = "bad_direction"
    CART_IN_PROGRESS = "cart_in_progress"
    NO_SHIFT = "no_shift"
    NOT_A_MULTIPLE = "not_a_multiple"
    REASON_REQUIRED = "reason_required"
    SHIFT_OPEN = "shift_open"
    SHIFTS_OPEN = "shifts_open"
    NOT_STORE_MANAGER = "not_store_manager"
    DAY_CLOSE_OFFLINE = "day_close_offline"
    CASH_MOVEMENT = "cash_movement"
    OVER_SHORT = "over_short"
    AUTH_RELEASED = "auth_released"
    ALREADY_RETURNED = "already_returned"
    BAD_REASON = "bad_reason"
    BAD_RECEIPT = "bad_receipt"
    CROSS_STORE_OFFLINE = "cross_store_offline"
    NEEDS_APPROVAL = "needs_approval"
    NO_RECEIPT_OVER_CAP = "no_receipt_over_cap"
    NOT_APPROVER = "not_approver"
    NOT_RETURNABLE_ITEM = "not_returnable_item"
    NOT_RETURNABLE = "not_returnable"
    NOT_UNDOABLE = "not_undoable"
    NOTHING_TO_RETURN = "nothing_to_return"
    OUTSIDE_WINDOW = "outside_window"
    OVER_RETURNABLE = "over_returnable"
    REFUND_FAILED = "refund_failed"
    REFUND_GATEWAY_MISSING = "refund_gateway_missing"
    RETURN_NOT_SAVED = "return_not_saved"
    SALE_NOT_FOUND = "sale_not_found"
    SALE_VOIDED = "sale_voided"
    HQ_ADMIN_AT_TILL = "hq_admin_at_till"
    INSECURE_ADDRESS = "insecure_address"
    # Returns: HQ's refusals (server_stub.returns)
    UNKNOWN_AUTH = "unknown_auth"
    AUTH_CAPTURED = "auth_captured"
    AUTH_EXPIRED = "auth_expired"
    AUTH_ID_REUSED = "auth_id_reused"
    UNKNOWN_DISCREPANCY = "unknown_discrepancy"
    NOTE_REQUIRED = "note_required"
    # HQ console (server_stub.console) and its operations
    BAD_ROLE = "bad_role"
    CONSOLE_LOCKED = "console_locked"
    CONSOLE_USER_EXISTS = "console_user_exists"
    CSRF_FAILED = "csrf_failed"
    NOT_SIGNED_IN = "not_signed_in"
    OUT_OF_SCOPE = "out_of_scope"
    PRICE_CANCEL_IMPOSSIBLE = "price_cancel_impossible"
    PRICE_NOT_SCHEDULED = "price_not_scheduled"
    RECORD_NOT_FOUND = "record_not_found"
    SCOPE_REQUIRED = "scope_required"
    SIGN_IN_FAILED = "sign_in_failed"
    UNKNOWN_CONSOLE_USER = "unknown_console_user"
    UNKNOWN_PRICE = "unknown_price"
    UNKNOWN_REGION = "unknown_region"
    WEAK_PASSWORD = "weak_password"
    # Stock across the chain at the till (pos_app.services.stock)
    TRANSFER_STATE = "transfer_state"
    COUNT_STATE = "count_state"
    NOTHING_COUNTED = "nothing_counted"
    TRANSFER_WRONG_STORE = "transfer_wrong_store"
    PROPOSALS_OFFLINE = "proposals_offline"
    REFUSAL_REASON_REQUIRED = "refusal_reason_required"
    # Payment codes (pos_app.domain.paycode, pos_app.services.payments)
    PAYCODE_UNKNOWN = "paycode_unknown"
    PAYCODE_OVER = "paycode_over"
    GATEWAY_UNREACHABLE = "gateway_unreachable"
    PAYCODE_DECLINED = "paycode_declined"
    PAYCODE_USED = "paycode_used"
    PAYCODE_CANCELLED = "paycode_cancelled"
    PAYCODE_UNSETTLED = "paycode_unsettled"
    PAYMENT_CLAIMED = "payment_claimed"
    GATEWAY_NOT_CONFIGURED = "gateway_not_configured"
    # Online channels' stock reservations and pick-up orders (server_stub.reservations)
    INSUFFICIENT_STOCK = "insufficient_stock"
    ORDER_ID_REUSED = "order_id_reused"
    STORE_OUT_OF_SCOPE = "store_out_of_scope"
    UNKNOWN_ORDER = "unknown_order"
    RESERVATION_ENDED = "reservation_ended"
    UNKNOWN_PICKUP = "unknown_pickup"
    PICKUP_COLLECTED = "pickup_collected"
    PICKUP_CODE_WRONG = "pickup_code_wrong"
    CHANNEL_EXISTS = "channel_exists"
    UNKNOWN_CHANNEL = "unknown_channel"


def is_registered(code: str) -> bool:
    """Whether ``code`` is one of :class:`ErrorCode` (HQ may answer a newer one)."""
    return code in ErrorCode._value2member_map_


class ChainPosError(Exception):
    """Base of every deliberate error.

    Args:
        code: the machine key (``error.<code>`` in the translations).
        message: an English explanation for logs and developers, never for a cashier.
        **params: the values the translated text may use.
    """

    def __init__(self, code: str, message: str = "", **params: Any) -> None:
        super().__init__(message or code)
        self.code: str = str(code)
        self.params: dict[str, Any] = dict(params)

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else self.code

    def as_wire(self) -> dict[str, Any]:
        """The ``{"code", "detail", "params"}`` shape HQ's error bodies use."""
        return {"code": self.code, "detail": self.message, "params": _plain(self.params)}


def _plain(params: Mapping[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in params.items():
        out[key] = value if isinstance(value, str | int | float | bool | None) else str(value)
    return out
