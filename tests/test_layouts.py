"""Each fixed-width layout, tested on a real line of the official file it describes."""

from ingest.layouts import load_layout

ORDER_LINE = ("00002 A000    1 Cholera due to Vibrio cholerae 01, biovar cholerae           "
              "Cholera due to Vibrio cholerae 01, biovar cholerae")
CODES_LINE = "A000    Cholera due to Vibrio cholerae 01, biovar cholerae"
# HCPCS 2019, G9890 first line (record id 3), verbatim: the first 120 columns, then the rest.
HCPCS_LINE = (
    'G9890001003Bridge payment: a one-time payment for the first medicare diabetes prevention   Em bridge payment           0'.ljust(120)
    + '0      9                                                                                                     C                          Y1  1      02018040120180401        A                           '
)


def test_icd10cm_order_layout_on_a_real_line():
    layout = load_layout("icd10cm_order")
    get = {f.name: ORDER_LINE[f.slice] for f in layout.fields}
    assert get["order_no"] == "00002"
    assert get["code"].rstrip() == "A000"
    assert get["billable"] == "1"
    assert get["short_desc"].rstrip() == "Cholera due to Vibrio cholerae 01, biovar cholerae"
    assert get["long_desc"] == "Cholera due to Vibrio cholerae 01, biovar cholerae"
    assert layout.first_problem(ORDER_LINE) is None


def test_icd10cm_codes_layout_on_a_real_line():
    layout = load_layout("icd10cm_codes")
    assert CODES_LINE[layout.field("code").slice].rstrip() == "A000"
    assert CODES_LINE[layout.field("long_desc").slice] == "Cholera due to Vibrio cholerae 01, biovar cholerae"


def test_hcpcs_layout_positions_are_the_official_ones():
    layout = load_layout("hcpcs_anweb")
    line = HCPCS_LINE.ljust(320)
    get = {f.name: line[f.slice].strip() for f in layout.fields}
    assert get["code"] == "G9890"
    assert get["sequence"] == "00100"
    assert get["record_id"] == "3"
    assert get["short_desc"] == "Em bridge payment"
    assert get["coverage"] == "C"
    assert get["betos"] == "Y1"
    assert get["add_date"] == "20180401"
    assert get["action_effective_date"] == "20180401"
    assert get["termination_date"] == ""
    assert get["action_code"] == "A"
    assert (layout.field("action_code").start, layout.field("termination_date").start) == (293, 285)
    assert layout.record_length == 320
