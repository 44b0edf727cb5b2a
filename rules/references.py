"""The evidence the rules cite: the LDN guidance summary (the seed) and the product labels. Nothing invented."""

from rules.base import Reference

LDN_GUIDANCE = Reference(
    id="ldn-guidance",
    title="Low-dose naltrexone guidance summary ('From the Guidelines')",
    citation=(
        "LDN guidance summary used by this service (1.5-4.5 mg daily at bedtime; 1.5 -> 3 -> 4.5 mg in "
        "1-2 week steps; 2-3 months to benefit, at least 6 months to evaluate; use compounded LDN, since "
        "50 mg tablets cannot be divided accurately; naltrexone blocks opioid effects and can precipitate "
        "withdrawal). The summary attributes its guidance to its source 1, a study in Ophthalmology (2017), "
        "which we could not trace and cite only as the summary cites it."
    ),
)

LDN_RESEARCH = Reference(
    id="ldn-guidance-research",
    title="Low-dose naltrexone guidance summary ('From the Research', sources 2-6)",
    citation=(
        "The summary's research section (its sources 2-6): LDN is safe and tolerable in small trials with "
        "subjective benefit; its use in chronic pain is still experimental and further randomised trials "
        "are needed (sources 2, 3, 6)."
    ),
)

NALTREXONE_LABEL = Reference(
    id="naltrexone-tablets-label",
    title="Naltrexone hydrochloride tablets USP 50 mg, prescribing information",
    citation=(
        "Contraindicated in patients receiving opioid analgesics, with current physiologic opioid dependence "
        "(including methadone or buprenorphine maintenance) or in acute opioid withdrawal; patients should be "
        "opioid-free for a minimum of 7-10 days before starting; patients 'may not benefit from opioid "
        "containing medicines, such as cough and cold preparations, antidiarrheal preparations, and opioid "
        "analgesics'; attempts to overcome the blockade with large opioid doses risk fatal overdose; in an "
        "emergency prefer regional anaesthesia, non-opioid analgesia or general anaesthesia, and if an opioid "
        "is required use a rapidly acting one, titrated, under continuous monitoring."
    ),
)

VIVITROL_LABEL = Reference(
    id="vivitrol-label",
    title="Vivitrol (naltrexone for extended-release injectable suspension), prescribing information",
    citation=(
        "Patients transitioning from buprenorphine or methadone 'may be vulnerable to precipitation of "
        "withdrawal symptoms for as long as two weeks'; opioid-free for a minimum of 7-10 days before "
        "starting; extended-release injection blocks opioids for about a month."
    ),
)

PERIPHERAL_ANTAGONIST_LABELS = Reference(
    id="pamora-lofexidine-labels",
    title="Relistor, Movantik, Symproic, Entereg and Lucemyra prescribing information",
    citation=(
        "Methylnaltrexone, naloxegol and naldemedine treat opioid-induced constipation in patients taking "
        "opioids; alvimopan is used around bowel surgery in opioid-exposed patients; lofexidine mitigates "
        "opioid withdrawal symptoms."
    ),
)

LYBALVI_LABEL = Reference(
    id="lybalvi-label",
    title="Lybalvi (olanzapine and samidorphan), prescribing information",
    citation=(
        "Samidorphan is an opioid antagonist; Lybalvi is contraindicated in patients using opioids or "
        "undergoing acute opioid withdrawal."
    ),
)
