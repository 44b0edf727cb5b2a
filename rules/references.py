"""The evidence the rules cite, each with the claim it supports.

Every entry was read in a stored copy through the project's search tool (docs/evidence.md has the quoted
passages and where they were found). Where a claim rests only on the LDN guidance summary or on a secondary
copy of a label, the citation says so. Nothing is cited from memory.
"""

from rules.base import Reference

LDN_GUIDANCE = Reference(
    id="ldn-guidance",
    title="Low-dose naltrexone guidance summary ('From the Guidelines')",
    citation=(
        "The service's clinical source: 1.5-4.5 mg daily at bedtime; 1.5 -> 3 -> 4.5 mg in 1-2 week steps; 2-3 "
        "months to benefit and at least 6 months to evaluate; compounded LDN, since 50 mg tablets cannot be "
        "divided accurately; naltrexone blocks opioid effects and could precipitate withdrawal in opioid-dependent "
        "individuals. The titration and "
        "the 2-3 and 6 month figures are the summary's protocol: no trial or review we could read states them "
        "(the trials we read ran 8-12 weeks). The summary attributes its guidance to 'a study in Ophthalmology "
        "(2017)', which we cite only as the summary cites it."
    ),
)

YOUNGER_2014 = Reference(
    id="younger-2014",
    title="Younger J, Parkitny L, McLain D. The use of low-dose naltrexone (LDN) as a novel anti-inflammatory "
    "treatment for chronic pain. Clin Rheumatol 2014;33(4):451-9",
    citation=(
        "Review. Supports: 'the use of LDN for chronic disorders is still highly experimental'; in most published "
        "research the daily dose is 4.5 mg; 50 mg tablets are the commercial product."
    ),
    url="https://doi.org/10.1007/s10067-014-2517-2",
    pmid="24526250",
    doi="10.1007/s10067-014-2517-2",
)

YOUNGER_MACKEY_2009 = Reference(
    id="younger-mackey-2009",
    title="Younger J, Mackey S. Fibromyalgia symptoms are reduced by low-dose naltrexone: a pilot study. Pain Med "
    "2009;10(4):663-72",
    citation="Pilot trial. Supports: side effects (including insomnia and vivid dreams) were rare, minor and transient.",
    url="https://doi.org/10.1111/j.1526-4637.2009.00613.x",
    pmid="19453963",
    doi="10.1111/j.1526-4637.2009.00613.x",
)

CREE_2010 = Reference(
    id="cree-2010",
    title="Cree BAC, Kornyeyeva E, Goodin DS. Pilot trial of low-dose naltrexone and quality of life in multiple "
    "sclerosis. Ann Neurol 2010;68:145-150",
    citation="Pilot trial of 4.5 mg nightly. Supports: bedtime dosing as trialled; LDN was well tolerated.",
    url="https://doi.org/10.1002/ana.22006",
    pmid="20695007",
    doi="10.1002/ana.22006",
)

SMITH_2007 = Reference(
    id="smith-2007",
    title="Smith JP, Stock H, Bingaman S, et al. Low-dose naltrexone therapy improves active Crohn's disease. Am J "
    "Gastroenterol 2007;102(4):820-8",
    citation="Open-label pilot, given each evening for 12 weeks. Supports: evening dosing; sleep disturbance was the "
    "most common side effect.",
    pmid="17222320",
)

PARKITNY_YOUNGER_2017 = Reference(
    id="parkitny-younger-2017",
    title="Parkitny L, Younger J. Reduced pro-inflammatory cytokines after eight weeks of low-dose naltrexone for "
    "fibromyalgia. Biomedicines 2017;5(2):16",
    citation="Pilot trial (8 women). Supports: a 15% reduction of pain and 18% of overall symptoms; a small evidence base.",
    url="https://doi.org/10.3390/biomedicines5020016",
    doi="10.3390/biomedicines5020016",
)

KIM_FISHMAN_2020 = Reference(
    id="kim-fishman-2020",
    title="Kim PS, Fishman MA. Low-dose naltrexone for chronic pain: update and systemic review. Curr Pain "
    "Headache Rep 2020;24(10):64",
    citation="Systematic review. Supports: LDN has shown promise in chronic pain and should be further investigated.",
    url="https://doi.org/10.1007/s11916-020-00898-0",
    pmid="32845365",
    doi="10.1007/s11916-020-00898-0",
)

TOLJAN_2018 = Reference(
    id="toljan-2018",
    title="Toljan K, Vrooman B. Low-dose naltrexone (LDN): review of therapeutic utilization. Med Sci (Basel) "
    "2018;6(4):82",
    citation="Review. Supports: LDN is considered a daily dose of 1 to 5 mg.",
    url="https://doi.org/10.3390/medsci6040082",
    doi="10.3390/medsci6040082",
)

NALTREXONE_LABEL = Reference(
    id="naltrexone-tablets-label",
    title="Naltrexone hydrochloride tablets USP 50 mg, prescribing information",
    citation=(
        "Indications: the treatment of alcohol dependence and the blockade of the effects of exogenously "
        "administered opioids. Contraindications: patients receiving opioid analgesics, currently dependent on "
        "opioids (including those maintained on methadone or buprenorphine), in acute opioid withdrawal, or who "
        "failed the naloxone challenge or have a positive urine opioid screen. Dosage and administration: 'an "
        "opioid-free interval of a minimum of 7 to 10 days is recommended for patients previously dependent on "
        "short-acting opioids', and patients should be opioid-free including tramadol. Patients should be told of the serious consequences of "
        "trying to overcome the opiate blockade. Dosing of 25 mg initially, then 50 mg daily, or 50 mg on weekdays with "
        "100 mg on Saturday, 100 mg every other day or 150 mg every third day (the regimens as Drugs.com "
        "summarises the label; the label text itself was not retrievable). Precautions: patients 'may not "
        "benefit from opioid containing medicines, such as cough and cold preparations, antidiarrheal "
        "preparations, and opioid analgesics'; for a patient receiving it, in an emergency the opioid dose "
        "needed 'may be greater than usual, and the resulting respiratory depression may be deeper and more "
        "prolonged'. A separate paragraph on pain management speaks of patients receiving fully blocking doses. Warnings: after the "
        "blockade wears off, patients may respond to lower opioid doses than before. Description: naltrexone "
        "hydrochloride is soluble in water to about 100 mg/mL."
    ),
    url="https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=f3305f0b-fb9e-4009-b28f-47fe9b1b618b",
)

VIVITROL_LABEL = Reference(
    id="vivitrol-label",
    title="Vivitrol (naltrexone for extended-release injectable suspension), prescribing information",
    citation=(
        "1.2: prevention of relapse to opioid dependence, following opioid detoxification. 4: contraindicated in "
        "patients receiving opioid analgesics, with current physiologic opioid dependence or in acute opioid "
        "withdrawal. 2.1: 380 mg "
        "intramuscularly every 4 weeks or once a month; opioid-free for a minimum of 7-10 days before starting, "
        "to avoid precipitated withdrawal 'that may be severe enough to require hospitalization'. 5.1: blocks the effects of opioids for approximately 28 days after administration. "
        "2.3/5.3: patients transitioning from buprenorphine or methadone 'may be vulnerable to precipitation of "
        "withdrawal symptoms for as long as two weeks'. Pain management in an emergency: regional analgesia or "
        "non-opioid analgesics; if opioids are needed, close monitoring by trained personnel in a setting "
        "equipped for CPR."
    ),
    url="https://dailymed.nlm.nih.gov/dailymed/lookup.cfm?setid=cd11c435-b0f0-4bb9-ae78-60f101f3703f",
)

PERIPHERAL_ANTAGONIST_LABELS = Reference(
    id="pamora-lofexidine-labels",
    title="Relistor, Movantik, Symproic, Entereg and Lucemyra prescribing information",
    citation=(
        "Methylnaltrexone (Relistor) and naldemedine (Symproic) labels, and naloxegol (Movantik) as its updated "
        "indication is reported: treatment of opioid-induced constipation in adults. Alvimopan (Entereg): to "
        "accelerate gastrointestinal recovery after partial bowel resection; contraindicated after more than 7 "
        "consecutive days of therapeutic opioid use; short-term use only (15 doses, REMS). Lofexidine "
        "(Lucemyra): mitigation of opioid withdrawal symptoms to facilitate abrupt opioid discontinuation, for "
        "up to 14 days. Interactions (as reproduced by MPR and PDR monographs; label sections not retrieved): "
        "methylnaltrexone and naloxegol advise avoiding other opioid antagonists (additive effects, risk of "
        "opioid withdrawal), and to stop them when opioid therapy stops."
    ),
)

LYBALVI_LABEL = Reference(
    id="lybalvi-label",
    title="Lybalvi (olanzapine and samidorphan), prescribing information",
    citation="A combination of olanzapine, an atypical antipsychotic, and samidorphan, an opioid antagonist. "
    "Contraindications: patients who are using opioids or are undergoing acute opioid withdrawal.",
)

PERIOPERATIVE_NALTREXONE_REVIEW = Reference(
    id="goel-2024",
    title="Goel A, Kapoor B, Wu M, et al. Perioperative naltrexone management: a scoping review by the "
    "Perioperative Pain and Addiction Interdisciplinary Network. Anesthesiology 2024;141(2):388-399",
    citation=(
        "Scoping review of perioperative naltrexone management. Supports: no clinical studies, case reports or "
        "guidelines address perioperative naltrexone in patients with chronic pain; the guideline documents found "
        "recommend stopping naltrexone before surgery, irrespective of dose, but none was built on a systematic "
        "literature search or a Delphi process."
    ),
    url="https://doi.org/10.1097/aln.0000000000005040",
    doi="10.1097/aln.0000000000005040",
)

ICD10CM_F11 = Reference(
    id="icd10cm-f11",
    title="ICD-10-CM Tabular List, F11 Opioid related disorders (as reproduced by coding references)",
    citation=(
        "F11.1- opioid abuse (includes opioid use disorder, mild) and F11.2- opioid dependence (includes opioid "
        "use disorder, moderate or severe) exclude each other; neither code says whether the patient is "
        "physically dependent now."
    ),
)
