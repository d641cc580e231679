"""PII redaction for logs, exports and the training inbox.

Residents type phone numbers, e-mail addresses, SSNs and card numbers into chats; none of
those may reach a log line or a CSV export in full. Patterns lean greedy where the shape is
unambiguous (a false negative leaks personal data), but the same text is published as Open311
descriptions and read by staff, so numbers and words that only look alike (ticket ids, ZIP codes,
addresses, dates, money) are left as typed.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from typing import Any

# Dashes phones and pasted text put between digit groups besides "-": hyphen, non-breaking hyphen, figure, en and
# em dash, minus, small and full-width hyphen-minus ("704–555–0188" copied from a web page was kept whole). For use
# inside [...]: the "-" is escaped.
_DASHES = "\\-\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"
# One separator between digit groups: a dash or dot, spaced or not ("704 - 555 - 0188"), or spaces alone.
_SEP = rf"(?:[ \t]*[{_DASHES}.][ \t]*|[ \t]+)"
# Not part of a longer number on either side (an order number, a ZIP+4, a ticket id), nor money or a fraction.
_NUM_START = rf"(?<![\w.$/])(?<!\d[{_DASHES}])"
_NUM_END = rf"(?!\w)(?![.,/{_DASHES}]\d)"

# "@" as phone and CJK keyboards also type it: full-width and small commercial at.
_AT = "@\uff20\ufe6b"
# Each starts only where its run of address characters does: retrying inside a long run was quadratic.
_EMAIL = re.compile(rf"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]+[{_AT}][A-Za-z0-9.-]+\.[A-Za-z]{{2,}}")
# An address written out so forms take it ("bob at gmail dot com", "ana (at) example (dot) org"), or typed with
# spaces around "@" and "." ("maria @ gmail . com"); with spaces the ending must be a known one, or "meet @ park.
# Then" would go.
_SPELT_EMAIL = re.compile(rf"(?<![\w.+-])(?:[\w+-]+\s*(?:\bdot\b|\bpunto\b)\s*){{0,3}}"  # "sarah dot jones at …"
                          rf"[\w.+-]+\s*(?:\(at\)|\[at\]|\bat\b|\barroba\b|[{_AT}])\s*[\w-]+"
                          r"(?:\s*(?:\(dot\)|\[dot\]|\bdot\b|\bpunto\b|[.．])\s*[\w-]+)*?"
                          r"\s*(?:\(dot\)|\[dot\]|\bdot\b|\bpunto\b|[.．])\s*(?:com|org|net|edu|gov|us|mx)\b",
                          re.IGNORECASE)

_SSN = re.compile(_NUM_START + rf"\d{{3}}{_SEP}\d{{2}}{_SEP}\d{{4}}" + _NUM_END)
# Nine bare digits (or 3-3-3) are only an SSN when the resident says so: alone they are an account or case number.
_SSN_AFTER_WORD = re.compile(
    r"(?i:\b(?:ssn|ss\s*#|social\s+security|seguro\s+social)(?!\w)[^\d\n]{0,30}?"
    # "my social is …", but not "social media 123456789"
    r"|\bsocial(?:[ \t:#.=-]|\b(?:is|es|was|number|num|no|nbr)\b)*)"
    rf"(?P<ssn>\d{{3}}(?:{_SEP})?\d{{2}}(?:{_SEP})?\d{{4}}|\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{3}})(?!\d)(?![.{_DASHES}]\d)")
# 13-19 digits, optionally grouped by spaces, dashes or dots (payment cards).
_CARD = re.compile(rf"\b(?:\d[ .{_DASHES}]?){{12,18}}\d\b")

# A North American area code or exchange: never 0/1 first, never N11 (311, 911 are service numbers), so a ticket id
# like 311-1000001 is not read as 311-100-0001 or 3-7 "area-number".
_NANP = r"[2-9](?!11)\d\d"
_PHONE = re.compile(
    _NUM_START + rf"(?:\+?1{_SEP}?)?"
    rf"(?:\([ \t]*\d{{3}}[ \t]*\){_SEP}?\d{{3}}{_SEP}?\d{{4}}"  # (704)555-0188, (704) 5550188
    rf"|\d{{3}}{_SEP}\d{{3}}{_SEP}\d{{4}}"  # 704-555-0188, 704 - 555 - 0188, 704.555.0188
    r"|\d{10}"
    # One separator where the groups split is only a phone with a real area code and exchange.
    rf"|{_NANP}{_SEP}{_NANP}\d{{4}}|{_NANP}{_NANP}{_SEP}\d{{4}})" + _NUM_END)
# "+44 20 7946 0958", "+52 55 1234 5678": a leading "+" says phone; E.164 allows 8 to 15 digits. Dialled from here
# or from abroad it starts 011 or 00 instead ("011 52 55 1234 5678", "0044 20 7946 0958"): then a separator after
# the country code, so an account number that starts with zeros ("0011223344") stays.
_INTL_PHONE = re.compile(rf"(?<![\w+])(?:\+[ \t]?\d|(?:011|00)[ \t{_DASHES}]?[1-9]\d{{0,2}}[ \t{_DASHES}(])"
                         rf"[\d(). \t{_DASHES}]{{5,22}}\d" + _NUM_END)
# Mexican numbers as residents from there write them: a 2-digit area code and 4 + 4 digits ("55 1234 5678",
# "cel: 33-1234-5678"), maybe after the old long-distance or mobile prefix ("01 55 …", "044 55 …"). (3 + 3 + 4 is
# _PHONE's.)
_MX_PHONE = re.compile(_NUM_START + rf"(?:(?:01|044|045){_SEP})?\d{{2}}{_SEP}\d{{4}}{_SEP}\d{{4}}" + _NUM_END)
# "555-0188": a 7-digit local number, dash or dot only (spaces would take "lot 250 1200"); a ZIP+4 or a ticket id
# is cut off by the neighbouring digits and the N11 rule.
_LOCAL_PHONE = re.compile(_NUM_START + rf"{_NANP}[ \t]*[{_DASHES}.][ \t]*\d{{4}}" + _NUM_END
                          # "250-1500 gallons" is a range
                          + r"(?![ \t]*(?:%|(?i:percent|dollars|gallons|feet|ft|sq|square|pounds|lbs|miles|people|homes"
                            r"|houses|units|years|days|hours|minutes|block)\b))")

# Names. A name a resident gives for themselves ("I'm Maria Lopez", "this is John Smith", "mi nombre es Ana Ruiz"),
# with a title ("Mr. John Smith", "la señora Ana Pérez"), signed "Maria Lopez here", or for someone they name by
# relation ("my neighbor Jennifer Walsh"): the capitalised words there, or any words after an introduction that can
# only introduce a name ("my name is maria lopez", "name: maria lopez"). After "i'm"/"soy" a lower-case name is
# masked only when it starts with a common first name: "i'm calling", "soy residente", "i'm 78" are what residents
# usually write there, and no list of ordinary words is long enough to tell every other one from a surname.
_LOWER = "a-zß-öø-ÿ"
_UPPER = "A-ZÀ-ÖØ-Þ"
_WORD = rf"[{_UPPER}{_LOWER}][{_UPPER}{_LOWER}'’-]*"
# "Maria", "O'Brien", "McDonald", "Jean-Luc"; not "TIRED" (all capitals is shouting, not a name).
_CAP_WORD = re.compile(rf"[{_UPPER}](?:['’]?[{_UPPER}])?[{_LOWER}]+(?:[-'’]?[{_UPPER}]?[{_LOWER}]+)*")
# Up to four words after an introduction ("juan carlos perez gutierrez"), read in a lookahead so a rejected
# candidate ("I'm Not sure") does not swallow an introduction that follows it ("… this is Maria").
_CANDIDATE = rf"(?=[ \t]*(?P<name>{_WORD}(?:[ \t]+{_WORD}){{0,3}}))"

# What only introduces a name, so the words after it are one in any case.
_NAME_IS = re.compile(
    r"(?:\b(?i:my[ \t]+(?:full[ \t]+)?name(?:[ \t]+is|['’]s)[ \t]*:?|my[ \t]+(?:full[ \t]+)?name[ \t]*:"
    r"|me[ \t]+llamo|mi[ \t]+nombre(?:[ \t]+completo)?(?:[ \t]+es[ \t]*:?|[ \t]*:))"
    # A bare "name:" label, but not "street name:" or "your name:".
    r"|(?<![\w'’][ \t])(?<![\w'’])(?i:(?:full[ \t]+)?name|nombre(?:[ \t]+completo)?)[ \t]*:)" + _CANDIDATE)
# "contact: Maria Hernandez", "contacto: Ana Méndez": a label a name may follow (or a number: then nothing is masked)
_CONTACT_LABEL = re.compile(r"\b(?i:contact|contacto|attn|atte?n?\.?|att)[ \t]*:" + _CANDIDATE)
# Anyone named: "el dueño de la casa se llama Roberto Gómez", "the tenant named Robert Chen"
_NAMED = re.compile(r"\b(?i:se[ \t]+llama|named|called)(?![\w'’])" + _CANDIDATE)
# A name signed at the end ("Thanks, Marcus Green", "Saludos, Ernesto Vázquez", "Regards,\nMarcus Green").
_SIGN_OFF = re.compile(
    r"\b(?i:thanks|thank[ \t]+you|thx|regards|best|sincerely|cheers|saludos|gracias|atentamente|cordialmente)"
    r"[ \t]*[,!.]?[ \t]*\n?[ \t]*(?=(?P<name>" + _WORD + r"(?:[ \t]+" + _WORD + r"){0,3})[ \t]*[.!]?[ \t]*$)")
# A name alone on the last line, under a blank one: how a message is signed ("…dark at night.\n\nRobert Nguyen").
_SIGNATURE_NAME = re.compile(r"\n[ \t]*\n[ \t]*(?=(?P<name>" + _WORD + r"(?:[ \t]+" + _WORD + r"){1,3})[ \t]*$)")
# A date of birth, after its label (other dates are appointments and when things broke, and stay):
# "DOB 03/14/1962", "date of birth: March 14, 1962", "fecha de nacimiento 14 de marzo de 1962".
_DOB = re.compile(
    r"(?P<label>\b(?i:d\.?o\.?b\.?|date[ \t]+of[ \t]+birth|birth[ \t]*date|birthday|born[ \t]+(?:on[ \t]+)?|"
    r"fecha[ \t]+de[ \t]+nacimiento|naci[óo]?[ \t]+(?:el[ \t]+)?|nac\.)(?:[ \t]+(?i:is|es|was|fue))?[ \t]*[:#-]?[ \t]*)"
    r"(?P<date>\d{1,4}[/.\-]\d{1,2}[/.\-]\d{2,4}"
    r"|(?i:[a-z]{3,9}\.?[ \t]+\d{1,2}(?:st|nd|rd|th)?,?[ \t]+\d{4})"
    r"|\d{1,2}[ \t]+(?i:de[ \t]+)?[a-zA-Z]{3,10}[ \t]+(?i:de[ \t]+|del[ \t]+)?\d{4})")
# Identity documents, after their name: a driver's licence, passport, consular ID, Medicaid or Medicare number.
_ID_NUMBER = re.compile(
    r"(?P<label>\b(?i:driver['’]?s?[ \t]+licen[cs]e|licencia(?:[ \t]+de[ \t]+(?:conducir|manejo))?|passport|pasaporte|"
    r"matr[ií]cula(?:[ \t]+consular)?|medicaid|medicare|cvv|cvc|security[ \t]+code|c[óo]digo[ \t]+de[ \t]+seguridad)"
    r"(?:[ \t]+(?i:number|num|no\.?|n[úu]mero|is|es|was|id))*[ \t]*[:#]?[ \t]*)"
    r"(?:[A-Z]{2}[ \t]+)?(?P<id>(?=[A-Za-z0-9-]*\d)[A-Za-z0-9][A-Za-z0-9-]{2,19})(?![\w-])")
# An access code after what it opens: "gate code 4471", "the code to the gate is #4471", "código de la puerta: 4471",
# "lockbox combo 1234". A bulky pickup's description published it next to the address it opens (probe AJ).
_OPENS = (r"gate|door|front[ \t]+door|back[ \t]+door|lock[ \t]?box|key[ \t]?box|garage|alarm|entry|access|building|"
          r"key[ \t]?pad|complex|community|apartment|apt|unit|house")
_CODE_WORD = r"code|combo|combination|pin|passcode|password"
_ACCESS_CODE = re.compile(
    r"(?P<label>\b(?i:(?:" + _OPENS + r")[ \t]+(?:" + _CODE_WORD + r")"
    r"|(?:" + _CODE_WORD + r")[ \t]+(?:to|for|of|on)[ \t]+(?:the[ \t]+|my[ \t]+)?(?:" + _OPENS + r")"
    r"|(?:c[óo]digo|clave|combinaci[óo]n|contrase[ñn]a|pin)(?:[ \t]+(?:de|del|para))?(?:[ \t]+(?:la|el|mi))?[ \t]+"
    r"(?:puerta|port[óo]n|reja|entrada|acceso|alarma|garaje|cochera|edificio|candado|caja|complejo|casa))"
    r"(?:[ \t]+(?i:is|es|was|number|no\.?|n[úu]mero))*[ \t]*[:#=-]?[ \t]*)"
    r"(?P<code>[#*]?\d{3,10}[#*]?)(?![\w#*])")
# A resident's own home, after the words that say it is theirs: "i live at 5512 albemarle rd apt 3", "my address is
# 12 Oak St", "vivo en 5512 Albemarle Rd apto 3" (probe AI: kept in the content inbox, and exported with a sample
# question into the repository). A report's place is what the city acts on, and stays.
_HOME_LABEL = (r"\b(?i:i[ \t]+live[ \t]+(?:at|on)|my[ \t]+(?:home[ \t]+|house[ \t]+|mailing[ \t]+)?address[ \t]+is|"
               r"my[ \t]+(?:house|home)[ \t]+is[ \t]+(?:at|on)|vivo[ \t]+en|"
               r"mi[ \t]+(?:casa|domicilio)[ \t]+(?:es|est[áa])[ \t]+en|"
               r"mi[ \t]+direcci[óo]n[ \t]+es)[ \t]*:?[ \t]*")
_STREET_SUFFIX = (r"st|street|rd|road|ave|av|avenue|blvd|boulevard|dr|drive|ln|lane|ct|court|way|pl|place|cir|circle|"
                  r"trl|trail|pkwy|parkway|hwy|highway|ter|terrace|loop|run|sq")
_HOME_ADDRESS = re.compile(
    _HOME_LABEL + r"(?P<address>\d{1,6}[ \t]+(?:[^\W_][\w.'’-]*[ \t]+){0,4}?(?i:" + _STREET_SUFFIX + r")\b"
    r"(?:\.?[ \t]*,?[ \t]*(?i:apartamento|apartment|apto|apt|unit|suite|ste|\#)\.?[ \t]*\#?[ \t]*\w{1,6}\b)?)")
# What introduces the resident, or anything: "I'm tired", "this is a pothole".
_SELF_INTRO = re.compile(r"\b(?i:i['’]?m|i[ \t]+am|soy|this[ \t]+is)(?![\w'’])" + _CANDIDATE)
_TITLE = re.compile(r"(?P<title>\b(?:Mrs|Mr|Ms|Mx|Dr|Srta|Sra|Sr|MRS|MR|DR)\b\.?|\bMiss\b|\b(?:don|do[ñn]a|Do[ñn]a)\b"
                    r"|\b(?i:se[ñn]or(?:ita|a)?)\b)" + _CANDIDATE)
# "mr smith", "mrs. jones": typed in lower case, the title still says a surname follows (not "dr", "sr": a drive and
# a senior are written that way too)
_LOWER_TITLE = re.compile(r"\b(?:mrs|mr|ms)\b\.?" + _CANDIDATE)
_PERSON_NOUN = (r"neighbou?rs?|landlord|landlady|owner|tenant|roommate|wife|husband|son|daughter|mother|father|mom|"
                r"dad|brother|sister|friend|manager|boss|vecin[oa]s?|dueñ[oa]|propietari[oa]|caser[oa]|inquilin[oa]|"
                r"espos[oa]|hij[oa]|amig[oa]|mamá|papá|herman[oa]|jefe|encargad[oa]")
# Someone else named by who they are to the resident: "my neighbor Jennifer Walsh", "owner is Robert Brown",
# "el dueño se llama Pedro Pérez" went word for word into public descriptions.
_RELATION = re.compile(r"\b(?i:" + _PERSON_NOUN + r")(?:,|[ \t]+(?i:is|was|named|called|es|se llama|llamad[oa]))?"
                       r"(?![\w'’])" + _CANDIDATE)
# "Maria Lopez here" signs a message only at its start, after a sentence or after a greeting, and before the end
# of a clause; "the pothole on Park Road here is deep" is not one.
_SIGNED = re.compile(
    r"(?:\b(?i:hi|hello|hey|hola|buenas|good[ \t]+(?:morning|afternoon|evening))\b[,!.]?|^|(?<=[.!?;:,]))"
    r"[ \t]*(?P<name>" + _WORD + r"(?:[ \t]+" + _WORD + r"){0,2})[ \t]+here\b"
    r"(?=[ \t]*(?:$|[.,!;:)" + _DASHES + r"]|(?i:again|calling|from|and|with|to|about|at|on|in)\b))",
    re.MULTILINE)
# How a Spanish speaker says who is writing or calling: "Hola, aquí Lupita Morales", "le habla Marta Ruiz", "les
# escribe Ana", at the start or after a greeting or a sentence ("aquí en la calle hay un bache" names no one), and
# "de parte de Rosa Díaz" anywhere.
_SPANISH_INTRO = re.compile(
    r"(?:(?:\b(?i:hola|buenas|buenos[ \t]+d[ií]as|buenas[ \t]+(?:tardes|noches))\b[,!.]?|^|(?<=[.!?;:,]))[ \t]*"
    r"(?i:aqu[ií]|(?:les?[ \t]+)?(?:habla|escribe))|\b(?i:de[ \t]+parte[ \t]+de))(?![\w'’])" + _CANDIDATE,
    re.MULTILINE)
# Whom to ask for: "pregunten por Rosa", "busquen a Don Pedro"; in English only a common first name ("ask for
# maria"), since "ask for Bulk Pickup" is a service.
_ASK_FOR_ES = re.compile(r"\b(?i:pregunt(?:en|e|ar|a)[ \t]+por|busqu(?:en|e)[ \t]+a|habl(?:ar|a|en|e)[ \t]+con)"
                         r"(?![\w'’])" + _CANDIDATE)
_ASK_FOR_EN = re.compile(r"\b(?i:ask[ \t]+for|speak[ \t]+(?:to|with)|talk[ \t]+(?:to|with))(?![\w'’])" + _CANDIDATE)
# A phone number read out in words, as residents type it into SMS ("nine eight zero five five five one two three
# four", "nueve ocho cero, 555 …"): digit words and digits, at least 7 digits in all with one word among them.
_DIGIT_WORDS = {"zero": "0", "oh": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5", "six": "6",
                "seven": "7", "eight": "8", "nine": "9", "cero": "0", "uno": "1", "una": "1", "dos": "2",
                "tres": "3", "cuatro": "4", "cinco": "5", "seis": "6", "siete": "7", "ocho": "8", "nueve": "9"}
_DIGIT_TOKEN = r"(?:" + "|".join(_DIGIT_WORDS) + r"|\d{1,4})"
_SPELT_DIGITS = re.compile(rf"(?<![\w$.…]){_DIGIT_TOKEN}(?:(?:[ \t]*[,{_DASHES}.][ \t]*|[ \t]+){_DIGIT_TOKEN})+"
                           r"(?![\w$%])", re.IGNORECASE)


def _spelt_digits(match: re.Match[str]) -> str:
    tokens = re.findall(r"\w+", match.group(0).lower())
    digits = "".join(_DIGIT_WORDS.get(token, token) for token in tokens)
    if len(digits) < 7 or all(token.isdigit() for token in tokens):
        return match.group(0)
    return f"[phone …{digits[-2:]}]"


def _words(*groups: str) -> frozenset[str]:
    return frozenset(word for group in groups for word in group.split())


# Words that end a name wherever they come ("my name is on the bill", "me llamo Juan y vivo aquí").
_ENDS_A_NAME = _words(
    "and y i from de del with con at in on en the la el los las a an un una my mi calling here is not still also",
    "wrong spelled misspelled was es but pero or o so to for por para of that que who your su tu it its this me",
    "llamando aqui again im i'm i’m are were am soy estoy thanks thank gracias please call text email")
# What residents write after "I'm"/"soy"/"this is" instead of a name, and lower-case words that end one
# ("i'm maria calling about"). Not "will" or "bill": "I'm Will", "I'm Bill Jones".
_ORDINARY = _words(
    "we you he she they him her them our us be been son esta estamos never no just only too very really quite",
    "pretty super there alli near about sobre over under after before since desde hasta otra vez writing",
    "escribiendo texting reporting reportando asking trying looking having going getting living wondering waiting",
    "hoping needing checking following contacting reaching requesting speaking hablando working staying renting",
    "sorry sure glad happy sad upset angry mad tired sick frustrated worried scared afraid concerned confused",
    "disabled elderly retired pregnant homeless unable able new old back home out done ready ok okay fine good",
    "great well available interested what when where why how which quien cuando donde como cual hi hello hey hola",
    "thanks thank gracias please favor yes yeah yep si anyone someone somebody anybody nobody everyone everybody",
    "nothing something anything everything nadie alguien todos one resident residente homeowner owner tenant",
    "renter veteran veterano veterana senior mom dad mother father parent single teacher maestro maestra nurse",
    "student neighbor neighbour vecino vecina nuevo nueva monday tuesday wednesday thursday friday saturday sunday",
    "lunes martes miercoles jueves viernes sabado domingo today tomorrow yesterday tonight hoy manana ayer",
    "american hispanic latino latina latinx black white asian african mexican mexicano mexicana dominican",
    "dominicano dominicana cuban cubano cubana puertorriqueno puertorriquena salvadoran salvadoreno salvadorena",
    "honduran hondureno hondurena guatemalan guatemalteco guatemalteca colombian colombiano colombiana venezuelan",
    "venezolano venezolana catholic christian cristiano cristiana muslim jewish english spanish espanol ingles",
    "trash garbage recycling cart pothole water street light tree city county police fire help would can could",
    "should did do does has have had gonna lol says said told lives lived asked wants needs call text email reach",
    "phone cell number message")
_NOT_A_NAME = _ENDS_A_NAME | _ORDINARY
# Street and place words: "this is Tryon St", "Dr. Martin Luther King Jr Blvd" are places, not people.
_STREET_ABBREVIATION = _words("st rd ave av blvd dr ln ct pl pkwy hwy cir ter trl fwy expy")
_PLACE_WORD = _STREET_ABBREVIATION | _words(
    "street road avenue boulevard drive lane court place parkway highway way circle terrace trail loop square park",
    "creek center centre church school elementary middle high academy university college mall plaza station",
    "library hospital apartments apts bridge lake river village commons crossing point pointe freeway expressway",
    "county city department office calle avenida camino carretera departamento oficina servicios sociales",
    # organisations: "This is Charlotte Water's fault" named no one
    "water energy gas power electric utilities utility services transit hoa association company inc llc corp")
# First names common in Charlotte that are not also ordinary words ("will", "grace", "frank", "rosa", "luz" are
# left out): the one sign a lower-case word after "i'm"/"soy"/"this is" is a name.
_FIRST_NAMES = _words(
    "mary patricia jennifer linda elizabeth barbara susan jessica sarah karen lisa nancy betty sandra margaret",
    "ashley kimberly emily donna michelle carol amanda melissa deborah stephanie rebecca sharon laura cynthia",
    "dorothy amy kathleen angela shirley brenda emma anna pamela nicole samantha katherine christine debra rachel",
    "carolyn janet maria catherine diane olivia julie joyce victoria ruth lauren kelly christina joan evelyn",
    "judith andrea hannah megan cheryl jacqueline martha teresa gloria sara janice ann anne kathryn abigail sophia",
    "frances alice judy isabella julia denise beverly danielle marilyn natalie diana brittany theresa kayla alexis",
    "lori tiffany tamara latoya keisha tasha tanya monica erica erin vanessa wanda yolanda veronica beth kate",
    "katie jenny becky cathy kathy debbie cindy tina tammy wendy shelly vicki nikki tanisha shanice fatima aisha",
    "james robert john michael david william richard joseph thomas christopher charles daniel matthew anthony",
    "donald steven paul andrew joshua kenneth kevin brian george timothy ronald edward jason jeffrey ryan jacob",
    "gary nicholas eric jonathan stephen larry justin scott brandon benjamin samuel gregory alexander patrick",
    "raymond dennis jerry tyler aaron jose adam nathan henry zachary douglas peter kyle noah ethan jeremy walter",
    "keith roger terry sean gerald carl harold dylan arthur lawrence jesse bryan billy bruce gabriel joe logan",
    "alan juan albert willie elijah wayne randy vincent mason roy ralph bobby russell bradley philip eugene darius",
    "jamal tyrone dwayne marcus derek travis curtis shawn tony mike chris matt dave steve jim bob tom sam ben dan",
    "nick jeff greg tim mohammed muhammad ahmed ali omar luis carlos miguel pedro jorge manuel francisco antonio",
    "javier alejandro fernando ricardo roberto eduardo sergio rafael raul oscar alberto arturo enrique hector mario",
    "pablo andres diego victor ramon julio rodrigo cesar guillermo gustavo hugo ignacio ivan jaime joaquin leonardo",
    "martin tomas mateo emilio ernesto felipe gerardo gilberto alfredo ruben adrian marco marcos agustin alfonso",
    "efrain fidel jesus lorenzo moises nicolas octavio rogelio saul vicente wilfredo cristian brayan ana carmen",
    "josefina guadalupe juana margarita elena isabel gabriela adriana alejandra claudia leticia silvia sofia lucia",
    "valentina camila daniela fernanda mariana paola natalia lorena beatriz norma araceli rocio alicia irma susana",
    "cristina raquel angelica liliana maribel yesenia estela graciela juanita lupe marisol lourdes marta karla",
    "karina yadira xochitl itzel ximena jimena renata fabiola gisela ines julieta lidia luisa miriam olga ramona",
    "rebeca selena sonia tania viviana yessica")


def _fold(word: str) -> str:
    """A word as the lists above spell it: lower case, without accents or a trailing full stop."""
    decomposed = unicodedata.normalize("NFKD", re.sub(r"['’]s$", "", word.lower().rstrip(".")))
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _is_place(word: str) -> bool:
    folded = _fold(word)
    return folded in _STREET_ABBREVIATION or (folded in _PLACE_WORD and word[:1].isupper())


_NEXT_WORDS = re.compile(r"[ \t]+([\w'’.]+)(?:[ \t]+([\w'’.]+))?")


def _name_span(match: re.Match[str], *, any_case: bool = False, titled: bool = False, whole: bool = False,
               surname_any_case: bool = False) -> tuple[int, int] | None:
    """Where the name in `match` (its "name" group) is: its leading words that can be a name, or None when none
    can or they name a street. `any_case`: after "my name is", every word until one that ends a name. `titled`:
    after "Mr."/"señora", capitalised words ("Mr. White" too). Otherwise a capitalised word that is not an
    ordinary one ("I'm Tired") or a common first name, then capitalised words, or after a first name in lower
    case any but ordinary ones ("i'm maria lopez calling"). `whole`: all the words or none. `surname_any_case`:
    after a first name in either case ("I'm Maria lopez")."""
    base = match.start("name")
    words = [(base + m.start(), base + m.end(), m.group()) for m in re.finditer(r"\S+", match.group("name"))]
    known_first = bool(words) and _fold(words[0][2]) in _FIRST_NAMES
    # A name typed all in lower case goes on in lower case; "my neighbor Jennifer says" does not.
    lower_case = known_first and (words[0][2].islower() or surname_any_case)
    taken = 0
    for index, (_, _, word) in enumerate(words):
        folded = _fold(word)
        capitalised = _CAP_WORD.fullmatch(word) is not None
        if any_case or (titled and capitalised):
            is_name = folded not in _ENDS_A_NAME
        elif titled:
            is_name = False
        elif index == 0:
            # "I'm Calling", "I'm Reporting": an -ing word there is what they are doing.
            is_name = known_first or (capitalised and folded not in _NOT_A_NAME and not folded.endswith("ing"))
        else:
            is_name = folded not in _ENDS_A_NAME and (capitalised or (lower_case and folded not in _ORDINARY))
        if not is_name:
            break
        if _is_place(word):
            return None
        taken += 1
    if not taken or (whole and taken < len(words)):
        return None
    end = words[taken - 1][1]
    after = _NEXT_WORDS.match(match.string, end)
    if after and (_is_place(after.group(1)) or (_fold(after.group(1)) == "jr" and after.group(2)
                                                and _is_place(after.group(2)))):
        return None
    return words[0][0], end


def _titled_name_span(match: re.Match[str]) -> tuple[int, int] | None:
    # "Dr"/"Sr" after a capitalised word or a house number is Drive or Senior ("1812 Kilborne Dr", "Smith Sr. Center").
    if match.group("title").rstrip(".").upper() in {"DR", "SR"}:
        before = match.string[max(0, match.start() - 40):match.start()].split()
        if before and (before[-1][:1].isupper() or before[-1][:1].isdigit()) and before[-1][-1] not in ".!?:":
            return None
    return _name_span(match, titled=True)


def _lower_titled_name_span(match: re.Match[str]) -> tuple[int, int] | None:
    """A surname, or a first name and a surname, in any case: "mr smith next door" masks "smith" only."""
    base = match.start("name")
    words = [(base + m.start(), base + m.end(), _fold(m.group())) for m in re.finditer(r"\S+", match.group("name"))]
    taken = words[:2] if len(words) > 1 and words[0][2] in _FIRST_NAMES else words[:1]
    if not taken or any(w in _NOT_A_NAME or _is_place(w) for _, _, w in taken):
        return None
    after = _NEXT_WORDS.match(match.string, taken[-1][1])
    if after and _is_place(after.group(1)):  # "mr. oak st"
        return None
    return taken[0][0], taken[-1][1]


def _first_name_span(match: re.Match[str]) -> tuple[int, int] | None:
    """Only a name that starts with a common first name, in any case ("ask for maria lopez")."""
    first = re.match(r"\S+", match.group("name"))
    return _name_span(match) if first and _fold(first.group()) in _FIRST_NAMES else None


def _mask_names(text: str, pattern: re.Pattern[str], span: Callable[[re.Match[str]], tuple[int, int] | None]) -> str:
    parts: list[str] = []
    done = 0
    for match in pattern.finditer(text):
        found = span(match)
        if found is None or found[0] < done:
            continue
        parts += [text[done:found[0]], "[name]"]
        done = found[1]
    return "".join([*parts, text[done:]])


# Numbers that are no one's: the city's 311 line and the numbers the city itself gives residents (the emergency
# advice's Piedmont Natural Gas, Duke Energy and Poison Help). A staff note "call 311 at 704-336-7600" reached the
# resident as "call 311 at [phone …00]" (probe AB). chat_server adds the configured 311 number at start.
_PUBLIC_NUMBERS: set[str] = {"7043367600", "8007527504", "8007693766", "8002221222"}


def keep_public_number(number: str) -> None:
    """Leave `number` (an organisation's, never a resident's) unmasked wherever it is written."""
    digits = re.sub(r"\D", "", number)
    if len(digits) >= 10:
        _PUBLIC_NUMBERS.add(digits[-10:])


def _phone(match: re.Match[str]) -> str:
    # with the digits just before it: "(704) 336-7600", kept whole, is a local "336-7600" to the last pattern
    digits = re.sub(r"\D", "", match.string[max(0, match.start() - 8):match.start()] + match.group(0))
    return match.group(0) if digits[-10:] in _PUBLIC_NUMBERS else _keep_last(match, "phone", 2)


def _keep_last(match: re.Match[str], label: str, keep: int) -> str:
    digits = re.sub(r"\D", "", match.group(0))
    return f"[{label} …{digits[-keep:]}]" if keep else f"[{label}]"


def _intl_phone(match: re.Match[str]) -> str:
    number = match.group(0).lstrip()
    prefix = 0 if number.startswith("+") else 3 if number.startswith("011") else 2  # the exit code is no digit of it
    digits = sum(char.isdigit() for char in number) - prefix
    return _keep_last(match, "phone", 2) if 8 <= digits <= 15 else match.group(0)


def _passes_luhn(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def mask_payment_cards(text: str) -> str:
    """Card numbers (13–19 digits that pass the Luhn check) as "[card …1111]", before a resident's message
    is stored or shown anywhere: a chat is no place to keep one. Other long numbers stay as typed."""
    def mask(match: re.Match[str]) -> str:
        return _keep_last(match, "card", 4) if _passes_luhn(re.sub(r"\D", "", match.group(0))) else match.group(0)
    return _CARD.sub(mask, text) if text else text


def redact(text: str) -> str:
    """Mask e-mails, self-introduced names, SSN-like, card-like and phone-like numbers, identity document numbers,
    access codes (a gate's, a door's) and the resident's own home address in free text."""
    if not text:
        return text
    text = _EMAIL.sub("[email]", text)
    text = _SPELT_EMAIL.sub("[email]", text)
    text = _mask_names(text, _NAME_IS, lambda m: _name_span(m, any_case=True))
    text = _mask_names(text, _SELF_INTRO, lambda m: _name_span(m, surname_any_case=True))
    text = _mask_names(text, _TITLE, _titled_name_span)
    text = _mask_names(text, _LOWER_TITLE, _lower_titled_name_span)
    text = _mask_names(text, _RELATION, _name_span)
    text = _mask_names(text, _SIGNED, lambda m: _name_span(m, whole=True))
    text = _mask_names(text, _CONTACT_LABEL, _name_span)
    text = _mask_names(text, _NAMED, _name_span)
    text = _mask_names(text, _SIGN_OFF, lambda m: _name_span(m, titled=True, whole=True))
    text = _mask_names(text, _SIGNATURE_NAME, lambda m: _name_span(m, titled=True, whole=True))
    text = _mask_names(text, _SPANISH_INTRO, _name_span)
    text = _mask_names(text, _ASK_FOR_ES, _name_span)
    text = _mask_names(text, _ASK_FOR_EN, _first_name_span)
    text = _DOB.sub(lambda m: m.group("label") + "[date of birth]", text)
    text = _ID_NUMBER.sub(lambda m: m.group(0)[:m.start("id") - m.start()] + "[id]", text)
    text = _ACCESS_CODE.sub(lambda m: m.group(0)[:m.start("code") - m.start()] + "[code]", text)
    text = _HOME_ADDRESS.sub(lambda m: m.group(0)[:m.start("address") - m.start()] + "[address]", text)
    text = _SSN_AFTER_WORD.sub(lambda m: m.group(0)[:m.start("ssn") - m.start()] + "[ssn]", text)
    text = _INTL_PHONE.sub(_intl_phone, text)  # first: "011 52 55 1234 5678" has a card's count of digits
    text = _MX_PHONE.sub(_phone, text)  # before the SSN's 3-2-4: "044 55 1234 5678" was "[ssn] 5678"
    text = _SSN.sub("[ssn]", text)
    text = _CARD.sub(lambda m: _keep_last(m, "card", 4), text)
    text = _PHONE.sub(_phone, text)
    text = _LOCAL_PHONE.sub(_phone, text)
    text = _SPELT_DIGITS.sub(_spelt_digits, text)
    return text


# What redact() leaves where personal data was: "[name]", "[phone …88]", "[card …1111]", "[date of birth]".
_MASK = re.compile(r"\[(?:name|email|ssn|id|code|address|date of birth|(?:phone|card) …\d*)\]")


def holds_personal_data(text: str) -> bool:
    """Whether `text` has personal data redact() would mask, or the mask of some: not for an article's questions,
    which `kb export` writes into the repository."""
    return bool(_MASK.search(text)) or redact(text) != text


def mask_names(text: str, names: list[str]) -> str:
    """The filer's own name (their contact fields), wherever it is in text that is made public: a resident
    asked to describe the problem sometimes types their name there."""
    for name in sorted({n.strip() for n in names if n and len(n.strip()) >= 2}, key=len, reverse=True):
        text = re.sub(rf"(?<!\w){re.escape(name)}(?!\w)", "[name]", text, flags=re.IGNORECASE)
    return text


# Form fields that identify a resident; stores that outlive the turn keep none of them.
CONTACT_FIELDS = frozenset({"first_name", "last_name", "contact_name", "email", "phone", "device_id",
                            "account_id"})


# A Redis stream entry id (`<ms>-<seq>`, e.g. a message id) under an id key is a reference, not
# something a resident typed: left as is, though its 13 digits look like a card number.
_STREAM_ID = re.compile(r"\d{10,16}-\d{1,6}")


def _is_stream_id(key: Any, value: Any) -> bool:
    return (isinstance(key, str) and (key == "id" or key.endswith("_id")) and isinstance(value, str)
            and _STREAM_ID.fullmatch(value) is not None)


def redact_data(data: Any) -> Any:
    """A copy of JSON-like `data` with contact fields masked and all free text redacted."""
    if isinstance(data, dict):
        return {k: ("[redacted]" if k in CONTACT_FIELDS and v else v if _is_stream_id(k, v) else redact_data(v))
                for k, v in data.items()}
    if isinstance(data, list | tuple):
        return [redact_data(v) for v in data]
    if isinstance(data, str):
        return redact(data)
    return data
