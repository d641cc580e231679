"""Emergency guard: messages describing an emergency get "call 911" at once, in any state.

This runs in chat_server before anything else, so it works while the bot is down, while a
human agent has the conversation, and mid-form. Patterns err on the side of answering: an
unnecessary 911 reminder is cheap, a missed one is not — but a 311 line that answers "shooting
range hours" with 911 teaches residents to ignore the reminder, so known look-alikes are masked.

How a message is checked:
1. `normalise` folds the ways residents type: case, accents, apostrophes, digit/symbol-for-letter
   swaps ("h0use 0n f1re"), punctuation and spacing, and every run of a repeated letter
   ("fiiiire", "smoooke", "bleeding" → "bleding"). Patterns below are folded the same way when
   compiled, so write them in ordinary spelling, without accents, on the folded alphabet a-z0-9.
2. One quick scan for any wording, trying at each word only the fragments that can begin there.
   Most messages stop here: this runs on every resident message.
3. Every phrase in `NEGATIVES` (311 questions that share words with emergencies) is blanked out,
   and what is left is searched with the English, Spanish and language-neutral wordings.

Adding a wording: put a regex fragment under the right theme in `ENGLISH` / `SPANISH` (or a
look-alike in `NEGATIVES`), add a labelled line to chat_server/emergency_examples.csv (the dev set), and run
`chat311 safety-eval chat_server/emergency_examples.csv` (see docs/safety.md). Fragments are wrapped in
word boundaries; use `.{0,N}` for "within N characters" and plain spaces between words.
"""

from __future__ import annotations

import re
import unicodedata
from re import _constants as _c  # the regex parser tells which letters a pattern can start with
from re import _parser

from chat_server.language import detect_language

# ----------------------------------------------------------------------------- normaliser

_APOSTROPHES = re.compile(r"['`]")
# Runs of letters, digits, @ and $; only those with a digit or symbol are unleeted. (A single
# pattern "run containing a digit" backtracks quadratically on a long run without one: a
# 29,000-letter message took ~9 s and stalled the event loop.)
_TOKEN = re.compile(r"[a-z0-9@$]+")
_LEETISH = re.compile(r"[0-9@$]")
_LETTER = re.compile(r"[a-z]")
_LEET = str.maketrans("013457@$", "oieastas")
_NON_WORD = re.compile(r"[^a-z0-9]+")
_REPEAT = re.compile(r"([a-z])\1+")
# Cyrillic and Greek letters that look like Latin ones: "my house is on fіre" (a Cyrillic і) slipped past the guard
# (probe U), since the ASCII fold below drops a letter it cannot decompose.
_LOOK_ALIKES = str.maketrans("аеорсуххіјѕԁԛԝɡαοερτυνικχ", "aeopcyxxijsdqwgaoeptuvikx")


def _unleet(match: re.Match[str]) -> str:
    """Letters typed as digits or symbols, only inside words that also have letters ("0n", "f1re")."""
    token = match.group()
    if not _LEETISH.search(token) or not _LETTER.search(token):
        return token  # a plain word stays; a number (911, an address, a time) stays a number
    if "911" in token:
        return token.replace("911", " 911 ")  # "call911now"
    return token.translate(_LEET)


def normalise(text: str) -> str:
    """Fold `text` to lower-case ASCII words separated by single spaces (see the module docstring)."""
    folded = text.lower()
    if not folded.isascii():
        # NFKD splits "ñ" into "n" + a combining tilde; the ASCII encode drops the marks, curly
        # apostrophes, ¿ ¡ and emoji (so "can’t" becomes "cant", as "can't" does below).
        folded = unicodedata.normalize("NFKD", folded.translate(_LOOK_ALIKES)).encode("ascii", "ignore").decode("ascii")
    folded = _APOSTROPHES.sub("", folded)
    if _LEETISH.search(folded):
        folded = _TOKEN.sub(_unleet, folded)
    folded = _NON_WORD.sub(" ", folded)
    folded = _REPEAT.sub(r"\1", folded).strip()
    return " ".join(_TYPOS.get(word, word) for word in folded.split(" ")) if folded else folded


# Key words as a frightened resident misspells them on a phone: "ther is a fier", "my nieghbor is unconsious",
# "someone is drownding", "uele a gas", "se esta aogando un niño" all went unanswered (probe AD) while the same
# words spelt right were caught. Each is read as the word it was meant to be when it is one edit away: two
# letters swapped for any of these words; for the long ones (8 letters or more, folded) also one letter missing,
# added or wrong; and a Spanish word's silent first "h" left out. Short words get no more than the swap: one
# letter off "fire" is "fir", "fine" or "hire". A variant that is another word residents write ("atrasado" is one
# letter off "atrapado") is left alone: TYPO_NOT (tests/test_safety_guard.py checks the words of the training data
# and the resident copy against the variants).
TYPO_WORDS = (
    "fire", "flames", "burning", "smoke", "drowning", "drowned", "bleeding", "breathing", "breathe", "unconscious",
    "unresponsive", "overdose", "seizure", "choking", "stabbed", "stabbing", "shooting", "shooter", "gunshot",
    "kidnapped", "trapped", "collapsed", "explosion", "suicide", "ambulance", "emergency", "electrocuted",
    "incendio", "fuego", "humo", "quemando", "ahogando", "ahogo", "sangrando", "respira", "respirar",
    "inconsciente", "desmayado", "desmayo", "sobredosis", "convulsion", "disparos", "balacera", "apunalado",
    "secuestro", "atrapado", "huele", "derrumbe", "explosion", "suicidar", "ambulancia", "emergencia", "auxilio",
    "electrocuto", "desangrando"
)
TYPO_NOT = frozenset(("atrasado", "quemado"))


def _typo_variants(word: str) -> set[str]:
    swaps = {word[:i] + word[i + 1] + word[i] + word[i + 2:] for i in range(len(word) - 1)}
    if len(word) < 8:
        return swaps | ({word[1:]} if word.startswith("h") and len(word) > 4 else set())
    letters = "abcdefghijklmnopqrstuvwxyz"
    edits = {word[:i] + word[i + 1:] for i in range(len(word))}
    edits |= {word[:i] + c + word[i + 1:] for i in range(len(word)) for c in letters}
    edits |= {word[:i] + c + word[i:] for i in range(len(word) + 1) for c in letters}
    return swaps | edits


def _typo_table() -> dict[str, str]:
    canonical = {_REPEAT.sub(r"\1", word) for word in TYPO_WORDS}
    table: dict[str, str] = {}
    for word in sorted(canonical):
        for variant in _typo_variants(word):
            variant = _REPEAT.sub(r"\1", variant)
            if variant not in canonical and variant not in TYPO_NOT:
                table.setdefault(variant, word)
    return table


_TYPOS: dict[str, str] = _typo_table()


# ----------------------------------------------------------------------------- wordings

_PEOPLE = (r"(someone|somebody|some one|man|woman|lady|guy|person|people|kid|kids|child|children|baby|toddler|"
           r"neighbor|neighbour|mom|mother|dad|father|husband|wife|son|daughter|brother|sister|friend|friends|"
           r"grandma|grandmother|grandpa|grandfather|uncle|aunt|cousin|roommate|boyfriend|girlfriend|driver|"
           r"passenger|pedestrian|cyclist|biker|he|she|they|hes|shes|theyre|ppl|family)")
_VICTIM = rf"(me|her|him|us|them|someone|somebody|(his|her|my|their|a|the|this) {_PEOPLE})"
_GENTE = (r"(alguien|persona|personas|gente|hombre|mujer|senor|senora|bebe|nin\w*|mama|papa|abuel\w*|hij\w*|"
          r"espos\w*|herman\w*|amig\w*|vecin\w*|familia|novi\w*|companer\w*|el|ella|ellos)")
_HOME = r"(house|home|apartment|apt|building|condo|kitchen|room|hallway|hall|attic|garage|basement|place)"

# Theme → regex fragments. Each theme is one kind of emergency, so a miss points to one list.
# A downed or live power line: also the advice to keep away (ADVICE["lines"]).
_LINES_EN = [
    r"(power|electric|electrical) (line|lines|wire|wires|cable|cables) (is |are )?"
    r"(down|fell|fallen|sparking|on (my|the|a) (car|house|road|street|ground))",
    r"(wires?|lines?) (down|sparking|on fire)", r"downed (power )?lines?", r"live wire",
    r"high (voltage|tension) (line|lines|wire|wires|cable|cables) (is |are )?(down|on the)",
    # "a tree took down power lines that are sparking" started the fallen-tree form
    r"(wires?|lines?|cables?)\b.{0,30}\b(sparking|arcing)",
    # "sparks coming from the pole": the pole, the transformer or the meter, as well as the wires
    r"(poles?|transformers?|meter|power box)\b.{0,20}\b(sparking|arcing|throwing sparks|shooting sparks)",
    r"sparks?\b.{0,25}\b(from|out of|on|off) (the |a |that |our |my )?(power |utility |electric )?"
    r"(poles?|transformers?|lines?|wires?|meter|power box)",
    r"(took|takes|knocked|brought|pulled|taking|knocking|bringing) down (the |a |some |our |my )?"
    r"((power|electric|electrical|utility) )?(lines?|wires?|cables?)",
    # "the electrical box is smoking and sparking inside my apartment"
    r"(electrical|electric|breaker|fuse|power) (box|panel|outlet|socket)\b.{0,30}\b(smoking|sparking|sparks|smoke|"
    r"on fire|burning)", r"(outlet|socket) (is )?(smoking|sparking)",
]
_LINES_ES = [
    r"cables? (electricos? |de (la )?luz |de alta tension |de electricidad )?(caidos?|en el suelo|en la calle|echando chispas)",
    r"(se cayo|cayo) un cable\b.{0,40}\b(carro|casa|gente|persona)",
    r"(se cayo|cayo|se cayeron|cayeron) (un |el |los |unos )?cables? (de alta tension|electricos?|de (la )?luz|de electricidad)",
    r"cables? (electricos? |de (la )?luz )?(cayo|cayeron) (sobre|encima)",
    r"(cayo|cayeron) (un |unos )?cables? (electricos?|de (la )?luz)",
    # "cables de luz que están echando chispas"
    r"cables?\b.{0,40}\b(echando|sacando|soltando|tirando|haciendo) chispas",
    # "el poste hizo chispas y se fue la luz": the pole or the transformer, as well as the cables
    r"(postes?|transformador|medidor)\b.{0,30}\b(echando|echa|echo|saca|sacando|suelta|soltando|tira|tirando|"
    r"hace|hizo|haciendo|saco|solto|tiro) chispas",
    r"chispas? (del|en el|en los|de los|de la|en la) (poste|postes|transformador|cables?|medidor|linea)",
    r"(tumbo|derribo|tiro|arranco|jalo) (los |unos |el |un )?cables?",
    # probe AC: "la caja electrica esta echando humo y chispas dentro de mi apartamento"
    r"(caja|panel|contacto|enchufe|tomacorriente|breaker)( electric[oa])?\b.{0,30}\b(echando|sacando|echa|saca|"
    r"suelta|soltando|hace|haciendo) (humo|chispas|fuego)",
]

# Poisonings also get the Poison Help line (ADVICE): "my kid just swallowed bleach" got only the generic text.
_POISON_EN = [
    r"swallowed (bleach|poison|pills|a battery|batteries|chemicals|drain cleaner|something)", r"poisoned",
    r"(drank|drink) (bleach|poison|antifreeze)",
]
_POISON_ES = [
    r"veneno", r"envenen\w*", r"se trago",
    r"(tomo|se tomo|bebio|se bebio|trago) (cloro|veneno|lejia|blanqueador|anticongelante|pastillas)",
]

ENGLISH: dict[str, list[str]] = {
    "fire": [
        r"fire", r"on fire", r"caught fire", r"catching fire", r"flames?", r"arson", r"ablaze",
        rf"({_HOME}|car|truck|roof|tree|trees|woods|grass|field|brush|stove|oven|it|its|everything|something)"
        r"( is| are| s)? (burning|burnt down|burned down)",
        r"(burning|burned|burnt) down",
        # probe AD: "the house across the street is burning"
        rf"({_HOME}|car|truck|roof|everything)\b.{{0,30}}\b(is|s|are) (burning|smoking)( up| now| right now)?$",
    ],
    "smoke": [
        r"smoke (is )?(coming|pouring|billowing|pours|rising|blowing) (out|from)",
        r"smoke (everywhere|inside|in (the|my|our|his|her|their) \w+)",
        r"(full|filled|filling( up)?) (of|with) smoke", r"smell\w* (smoke|something burning)",
        r"(see|seeing|theres|there is|lots of|a lot of|black|thick) smoke",
    ],
    "gas": [
        r"smell\w* (of |like )?(natural |propane )?gas", r"gas (smell|odor|odour|leak|leaking|is leaking)",
        r"leaking gas", r"rotten eggs? (smell|odor)", r"(hiss|hissing)\b.{0,30}\bgas", r"gas (line|pipe|meter)\b.{0,30}\b(hissing|broken|busted|hit|cut|ruptured)", r"smell\w*\b.{0,30}\b(like|of) rotten eggs?",
        r"(carbon monoxide|monoxide|co) (alarm|detector)s? (is |are |keeps |just )?(going off|went off|sounding|alarming)",
        r"(carbon monoxide|monoxide|co alarm|co detector).{0,60}(dizzy|headache|nause\w*|sick|passed out|throwing up)",
        r"(dizzy|headache|nause\w*|sick|passed out|throwing up).{0,60}(carbon monoxide|monoxide|co alarm|co detector)",
    ],
    "breathing and medical": [
        r"(cant|cannot|can not|cnt|not|isnt|is not|stopped|wont|aint|trouble|difficulty|struggling to|hard to) "
        r"breath(e|ing)?",
        r"heart attack", r"chest pains?", r"(chest|heart) (hurts|is hurting)", r"stroke", r"seizure", r"seizures", r"convuls\w*", r"unconscious",
        r"unresponsive", r"passed out", r"fainted",
        rf"{_PEOPLE} (is |s |are )?(not|isnt|wont|doesnt|will not|cant|aint) (responding|respond|waking|wake|moving|move)",
        r"(wont|will not|cant|cannot) wake (up|him|her|them)",
        r"choking", r"choked", r"drowning", r"drowned", r"bleeding", r"blood everywhere",
        r"(a lot of|lots of|so much|too much) blood", r"blood (is )?(all over|pouring|gushing|spurting)",
        r"(cut|sliced|gashed) (his|her|my|their) (\w+ )?(hand|arm|leg|foot|finger|head|face|wrist|neck|throat)"
        r"( open| off)?( really| very| so| pretty)? (bad|badly|deep|deeply|open)",
        r"allergic reaction", r"(throat|airway) (is )?(closing|swelling)", r"anaphyla\w*", r"ambulance", r"paramedics?",
        r"cpr", r"dead body", rf"{_PEOPLE} (is |s )?(dead|dying|collapsed|hurt bad|badly hurt)",
        # "a tree fell on my house and my son is hurt" started the fallen-tree form
        rf"(my|our|his|her|their|a|the) {_PEOPLE} (is|was|got|are|were|s|has been) (hurt|injured|bleeding)",
        rf"{_PEOPLE} (just )?collapsed", rf"{_PEOPLE} (is |s )?(lying|laying) (in|on) (the )?(street|road|ground|floor)", r"fell\b.{0,50}\b(cant|cannot|can not|wont|not) (move|get up|moving)",
        # "my dad fell in the bathroom and isn't answering me" got the fallback
        rf"{_PEOPLE} (just )?fell\b.{{0,50}}\b(isnt|is not|wasnt|not|wont|stopped|aint) (answering|responding|talking|saying anything)",
        r"fell\b.{0,40}\bhit (his|her|my|their) head",
        r"(ceiling|roof|building|house|wall|balcony|deck|porch|bridge) (has |just )?collapsed",
        r"(fell|fall) (in|into) (the|a) (pool|lake|river|creek|pond|water)",
        # "there's a kid in the pond at Freedom Park he went under and hasnt come up" missed the guard
        r"went under\b.{0,30}\b(hasnt|has not|havent|didnt|did not|not|never) (come|came) (back )?up",
        r"(kid|child|baby|toddler) (is |was )?(locked|left) in (a|the) (hot )?car",
        # probe AC: a person down in public, in water or under something, said without "unconscious"
        r"(lying|laying)\b.{0,40}\b(and )?(not moving|isnt moving|unresponsive|wont wake)",
        # probe AD: the signs, not the category word
        r"(turning|turned|going) (blue|purple|gray|grey)", r"foaming at the mouth", r"electrocuted",
        r"(stuck|pinned|trapped)\b.{0,30}\b(in|inside|under) (the |a |his |her |their )?(crashed |wrecked )?"
        r"(car|truck|wreck|water|flood)", r"(stuck|stranded) in (the )?(flood|flood water|rising water)",
        r"holding on to (a |the )?(tree|branch|pole|car|roof)",
        r"(flood\w*|underpass|water|creek|river)\b.{0,60}\b(on the roof|on top of (the|their|a) (car|truck|van))",
        r"(flood|flood water|water)\b.{0,30}\b(rising|up to)\b.{0,20}\b(car|we|us|our)",
        r"(fell|fallen|went) (through|thru) the ice", r"(pulled|dragged|carried|taken) (away )?by the current",
        r"(water|flood\w*) (is )?(up to|over) (the |our |my )?(windows?|roof|doors?|chest|neck|waist)",
        r"pinned (under|beneath|by|down)",
        # a young child alone where cars are: "a little kid alone walking on the highway"
        r"(kid|child|toddler|baby|little one)\b.{0,25}\b(alone|by (him|her)self|wandering)\b.{0,30}\b"
        r"(highway|interstate|road|traffic|street|freeway|tracks)",
        r"(wandering|walking|running) (in|into|on) (the )?(traffic|highway|interstate|freeway)",
        *_POISON_EN,
    ],
    "overdose": [
        r"overdos\w*", r"od", r"oded", r"o d",
        r"took (too many|a lot of|a bunch of|a whole bottle( of)?|all (of )?(his|her|my|the|their)|an entire bottle( of)?)"
        r"( of)?( \w+)? (pills|meds|medications?|medicine|tablets|xanax|oxy\w*|perc\w*)",
        r"fentanyl", r"heroin",
        r"(swallowed|took|taken|ate|downed)\b.{0,25}\b(bunch|handful|bottle|lot|all|whole|entire|too many)\b.{0,25}\b"
        r"(pills|meds|medications?|medicine|tablets|sleeping pills)",
    ],
    "violence": [
        r"shots fired", r"(shot|shooting) (at|him|her|them|someone|somebody|people|a man|a guy|my)",
        r"(got|been|was|were|is|are|getting|being|just) shot", r"shootings?", r"shooter", r"gunshots?",
        r"gun shots?", r"gunfire", r"gunpoint", r"armed (man|men|person|guy|robbery|robbers?)",
        r"(with|has|have|got|pulled|pulling|waving|pointing|holding|loading|loaded) (a |his |her )?"
        r"(gun|pistol|rifle|knife|weapon|machete|shotgun)",
        r"machete", r"(threatened|threatening|threatens|says he will|said he would|going to|gonna) (to )?"
        r"(shoot|stab|kill) (me|us|her|him|them|everyone|people|my)",
        r"(dragging|pulling|forcing|shoving|throwing) (a |the |this |my )?(her|him|woman|girl|lady|kid|child|boy|man|"
        r"person|someone)\b.{0,20}\b(into|in) (a|the|his|her|their|an) (van|car|truck|suv|vehicle|trunk)",
        r"stab", r"stabs", r"stabbed", r"stabbing",
        rf"(beating|hitting|punching|kicking|choking|strangling|attacking|abusing|hurting) (up )?{_VICTIM}",
        rf"(hit|beat|punched|kicked|attacked|stabbed|choked|raped|pushed) {_VICTIM}",
        rf"beat {_VICTIM} up", r"domestic (violence|dispute|abuse|fight)",
        rf"{_PEOPLE} (is |s |are )?robbing", r"stalking (me|us|her|him)",
        r"(kid|child|son|daughter|baby|toddler|year old) (is |s |has gone |went )?(missing|lost)",
        r"missing (child|kid|toddler)", r"(cant|cannot|can not) find my (kid|child|son|daughter|baby|toddler|\d+ year old)",
        r"being (attacked|assaulted|raped|kidnapped|kidnaped|robbed|followed|abused|beaten|chased|stalked)",
        r"rape", r"raping", r"kidnap\w*", r"(robbing|robbery) (in progress|right now|happening)", r"robbing (me|us)",
        r"threatening (to kill|everyone|people)", rf"threatening {_VICTIM} with",
        r"threat\w* .{0,30}with (a |his |her )?(gun|pistol|rifle|knife|weapon)",
        rf"(going|gonna|trying|try|will|wants|want) to kill {_VICTIM}",
        r"threatening to (shoot|kill|stab|hurt) (his|her|their|my) (family|wife|husband|kids|children|girlfriend|boyfriend)", r"(going|gonna|trying|try|will) to kill everyone",
        r"(break|breaking|broke|broken) (in|into)\b.{0,40}\b(now|right now|still|inside|here|happening)",
        r"(breaking|trying to break) (in|into)", r"intruder",
        # probe AD: a break-in told as what is happening
        r"(trying|tried) to (get|come|force his way|force their way|kick|break) (in|into|open|down)\b.{0,20}\b(my|our|the)? ?"
        r"(door|window|house|home|apartment|back door|front door)?",
        r"(kicking|kick|banging|forcing) (in |down |open )?(my|our|the) (front |back |bedroom )?door",
        # a child taken
        r"(trying to|tried to|just) (take|grab|pull|drag|force) (a |the |my |this |that )?(child|kid|girl|boy|baby|toddler)",
        r"(grabbed|took|snatched|abducted|pulled) (a |the |my |this |that )?(little )?(child|kid|girl|boy|baby|toddler)\b.{0,30}"
        r"\b(van|car|truck|away)",
        r"(kid|child|baby|toddler)\b.{0,20}\b(alone|left|locked|inside)\b.{0,20}\b(hot )?car",
        r"car\b.{0,30}\b(with|and) (a |my |the |her |his )?(kid|child|baby|toddler) (still )?(inside|in it)", r"(someone|somebody|a man|stranger).{0,30}inside (my|the|our)",
        r"(fighting|fight) (with|w) (guns|knives|knifes|weapons|machetes|bats)", r"grabbing me",
        r"(dog|dogs|pit ?bull)\b.{0,15}\b(is |are |s )?(attacking|mauling|biting) (a |my |the |our |this )?"
        r"(kid|child|boy|girl|baby|toddler|son|daughter|man|woman|person|someone|lady|neighbor|me|us)",
        r"(im|i am|were|we are|hes|shes|kids are) hiding (in|under|from)",
        # probe U: "a woman is screaming for help outside"
        r"(screaming|screams|screamed|yelling|yells|crying|cries|shouting|calling) (out )?for help",
    ],
    "self harm": [
        r"suicid\w*", r"kill (myself|me)", r"end (my life|it all)", r"want to die", r"dont want to live",
        r"hurt myself", r"hurting myself",
        # said another way, or about someone else (probe J: "I'm thinking about ending my life" and "my friend says
        # he is going to kill himself" got "Sorry, I didn't understand")
        r"(end|ending|take|taking) (my|his|her|their) (own )?life", r"(kill|killing) (himself|herself|themselves|themself)",
        r"(dont|do not) want to (live|be alive|go on)", r"better off dead",
        # "I can't sleep and I don't want to be here anymore" reached neither the wordings nor the net
        r"(dont|do not) want to (be here|exist) (anymore|any more)", r"no reason to (live|go on)",
        # probe AC: "im going to end it tonight", "thinking of killing myself", jumping
        r"(killing|kill|hurt|hurting|cut|cutting|harm|harming) (myself|himself|herself|themselves)",
        r"(going|gonna|want|wanna|plan|planning|about|ready) to end it\b", r"end it (tonight|today|now|soon|all)",
        r"ending it( all)?\b", r"(threatening|threatens|going|gonna|about|trying|wants?|ready|says? (shes|hes|she is|he is) going) "
        r"to jump\b", r"(jumped|jumping|jump) (off|from|of) (the|a|that|this) (bridge|building|roof|overpass|ledge|"
        r"parking deck|garage|balcony|tower)", r"on the (ledge|edge) of (the|a)\b.{0,40}\bjump",
    ],
    "traffic": [
        r"car (accident|crash|wreck)",
        r"(wreck|crash|accident|collision|crashed)\b.{0,50}\b(injur\w*|hurt|bleeding|trapped|unconscious)",
        r"(hit|struck|run over|ran over) by a (car|truck|bus|train|vehicle|driver)",
        rf"{_PEOPLE} (was|got|just got|has been|been|is|getting) (hit|struck|run over|ran over)", r"crashed into",
        r"(plowed|plowing|slammed|smashed|drove|crashed) (into|through) (the |a )?(bus stop|crowd|people|house|store|"
        r"building|pedestrians)", r"(just|bad) (a )?wreck\b.{0,50}\b(stuck|hurt|bleeding|on the ground|trapped)",
    ],
    "power, water, trapped": [
        *_LINES_EN,
        r"(water|flood|flooding) (is )?(rising|entering|coming) (in|into) (my|the|our) (house|home|car)",
        r"swept away", r"(car|we|i|someone|people) (stuck|trapped) in (the )?(flood|water)",
        rf"({_PEOPLE}|we|were|im|i am|theyre) (are |is |s |re |am )?trapped",
        # "we can't get out" where water, fire or smoke is (a car across the driveway is no emergency, probe AC's)
        r"(water|fire|smoke|flood\w*|flames|burning|collapsed|rising)\b.{0,50}\b(we|i|they|he|she|were|im|theyre|hes|shes) "
        r"(cant|cannot|can not|couldnt) get out",
        r"(cant|cannot|can not|couldnt) get out\b.{0,40}\b(water|fire|smoke|flood\w*|flames|burning)",
        r"trapped (in|inside|under) (the |a |his |her |their |our )?"
        r"(car|building|house|elevator|fire|rubble|wreck|water|apartment)",
    ],
    "explosion": [r"exploded", r"bomb"],
    "general": [r"emergenc(y|ies)"],
}

SPANISH: dict[str, list[str]] = {
    "fire": [
        r"incendi\w*", r"fuego", r"en llamas", r"hay llamas", r"llamas (en|saliendo|por)", r"salen llamas",
        r"se (esta |estan )?(quema|queman|quemando|quemo)", r"quemandose", r"ardiendo",
        r"se me (esta |estan )?quem(a|an|ando)",
    ],
    "smoke": [
        r"(sale|salen|saliendo) (mucho )?humo", r"humo (sale|saliendo|por todas partes|adentro|en (el|la|mi|los|las) \w+)",
        r"(lleno|llena|llenando) de humo", r"(mucho|hay) humo", r"huele a (humo|quemado)",
    ],
    "gas": [
        r"huele (mucho |muchisimo |fuerte |muy fuerte |bien fuerte |super fuerte )?a (gas|huevos? podridos?)",
        r"(olor|peste|tufo) (fuerte |muy fuerte )?a huevos? podridos?", r"(olor|peste|tufo) (fuerte |muy fuerte )?a gas", r"fuga de gas",
        r"alarma (de|del) (monoxido|carbono).{0,40}(sonando|suena|sono)",
        r"monoxido.{0,60}(mare\w*|dolor de cabeza|desmay\w*|vomit\w*)",
    ],
    "breathing and medical": [
        r"no (puede|puedo|podemos|pueden) respirar", r"no respira\w*", r"dejo de respirar",
        r"infarto", r"ataque (al|de) corazon", r"dolor (de|en el|del) pecho", r"(le|me) duele (mucho )?el pecho", r"derrame", r"convulsi\w*", r"inconsciente", r"desmay\w*",
        rf"{_GENTE}( \w+)? no (despierta|despiertan|se despierta|se despiertan|reacciona|responde|se mueve|se puede mover)",
        r"se cayo\b.{0,40}\bno (se mueve|se puede mover|puede moverse|se puede levantar|se levanta|(me |nos )?(contesta|responde|habla))",
        r"sin respirar", r"no reacciona\w*",
        # probe AD: the signs, not the category word
        r"(me estoy|se esta|se estan|esta) desangr\w*", r"no (para|deja) de sangrar", r"espuma por la boca",
        r"se electrocut\w*", r"(se puso|se esta poniendo|esta) (morad[oa]|azul)",
        r"se (desvanecio|desvanecieron|desplomo|desplomaron)\b.{0,30}\bno (despierta|reacciona|responde)",
        r"(se cayo|se cayeron|se acaba de caer)\b.{0,30}\bno se mueve",
        r"(agua|inundacion)\b.{0,30}\b(me|nos|le|les) (llega|llego)\b.{0,10}\b(al|a la|hasta) (pecho|cuello|cintura)",
        r"(carro|coche|auto|camioneta) se (quedo|quedaron) (atorad\w*|atrapad\w*|atascad\w*) en el agua",
        r"(se estrello|se estrellaron|choco|chocaron) (en|contra) (la parada|la gente|una casa|gente|la tienda)\b.{0,40}"
        r"\b(gente|personas|herid\w*|en el piso)",
        r"(hay )?(un|el) cuerpo (en|flotando|tirado)", r"(se cayo|cayo|se cayeron) (al|en el|a un) hielo",
        r"(arrastrad\w*|llevad\w*|jalad\w*) por la corriente",
        r"(agua|inundacion)\b.{0,20}\b(hasta|llega a|llego a) (las ventanas|el techo|la cintura|el pecho|el cuello)",
        r"(nino|nina|ninos|bebe|chiquit\w*|pequen\w*)\b.{0,25}\b(solo|sola|solos|solit\w*)\b.{0,30}\b"
        r"(carretera|autopista|calle|trafico|freeway|via|vias)",
        r"(nino|nina|bebe|hij\w*) (esta |estan |quedo |se quedo )?encerrad\w* en (el|un|su|mi|una) (carro|coche|auto|camioneta)", rf"{_GENTE} (esta |estan )?tirad(o|a|os|as)", r"(^|\best(a|an) |\bqued(o|aron) |\bse qued(o|aron) )tirad(o|a|os|as) (en el suelo|en la calle|en el piso)",
        r"(se esta |esta |se )?ahog(ando|o|a)", r"sangrando", r"mucha sangre", r"perdiendo sangre",
        r"sangre por (todos lados|todas partes)",
        r"se corto (la|el|su) (mano|brazo|pierna|pie|dedo|cabeza|cara|muneca|cuello) (muy |bien )?(feo|fuerte|profundo|hondo)",
        r"herid(o|a|os|as)", r"ambulancia", r"paramedicos?", r"(hay un|un|una|hay una) muert(o|a)", r"cadaver",
        r"se (cayo|cayeron) (al|a la|en el|en la) (rio|lago|agua|piscina|alberca)",
        *_POISON_ES, r"reaccion alergica",
    ],
    "overdose": [
        r"sobredosis",
        r"(tomo|tomaron|se tomo|se tomaron|me tome|tome|trague|me trague|se trago|nos tomamos) (muchas|demasiadas|un monton de|"
        r"todas las|un bote de|toda la caja de|un frasco de|una caja de|un punado de|un chingo de|bastantes) "
        r"(pastillas|pildoras|medicinas|medicamentos)",
    ],
    "violence": [
        r"(le|la|lo|me|nos|les) (esta |estan |sigue |siguen )?(pegando|golpeando|pega|golpea|pegan|golpean)",
        r"(pegando|golpeando) a", r"violencia (domestica|familiar)",
        r"(le|les|me|nos|lo|la) dispar\w*", r"disparos", r"disparando", r"balacera", r"balazos?", r"tiroteo",
        r"(hombre|persona|tipo|senor|alguien|hombres|tipos) (armado|armados|con (una |un )?(pistola|arma|cuchillo|navaja|rifle))",
        r"apunal\w*", r"acuchill\w*", r"navajaz\w*",
        r"(me|nos|la|lo|le) (va|van|quiere|quieren) (a )?matar", r"secuestr\w*", r"viola(ndo|ron|cion)",
        r"(estan|esta) (robando|entrando a|asaltando)", r"asalto", r"me (estan|esta) siguiendo",
        r"(se metio|se metieron|entro|entraron).{0,40}(sigue|siguen|esta|estan) (adentro|aqui|dentro)",
        r"atropell\w*", r"(me|nos|la|lo|le|les) (esta |estan )?atac(ando|aron|a|an)",
        # "hay alguien adentro de mi casa, estoy escondida en el cuarto" missed the guard
        r"(hay )?(alguien|un hombre|un tipo|una persona|unos tipos|un extrano|extranos) (esta |estan )?(adentro|dentro|metid\w*) "
        r"(de |en )?(mi|la|nuestra) (casa|apartamento|departamento|cuarto)",
        r"(estoy|estamos|esta|estan) escondid(o|a|os|as)",
        # probe AD: a break-in told as what is happening, and a child taken
        r"(se esta|se estan|se quiere|se quieren) meti(endo|er) (a|en) (mi|la|nuestra|su) (casa|apartamento|cuarto)",
        r"(tratando|intentando) de (abrir|forzar|romper|tumbar) (mi|la|nuestra) (puerta|ventana)",
        r"(pateando|forzando|golpeando) (mi|la|nuestra) puerta",
        r"(se quiere|se quieren|quiere|quieren|trata de|tratando de) llevar(se)? a (un|una|mi|la|el) (nin\w*|bebe|hij\w*)",
        r"se (llevaron|llevo|robaron|robo) a (un|una|mi|la|el) (nin\w*|bebe|hij\w*)",
        r"(nin\w*|bebe)\b.{0,20}\b(solo|sola|encerrad\w*)\b.{0,20}\b(carro|coche|auto|camioneta)",
        r"(peleando|pelean|peleandose) con (cuchillos|navajas|machetes|pistolas|armas)",
        r"(quiere|quieren|tratando de|intentando|trata de) (meterse|entrar|meter) (a|en) (mi|la|nuestra) casa",
        r"amenaz\w* .{0,30}con (una |un )?(pistola|arma|cuchillo|navaja|machete)", r"tirador", r"machete",
        r"(tiene|trae|saco|con) (un |una )?(pistola|arma|gun|cuchillo|navaja|rifle)\b.{0,30}\bamenaz\w*",
        r"(esta |estan )?atacando a (un|una|mi|su|el|la|los|las|unos) \w+",
        r"(arrastrando|jalando|metiendo|subiendo) a (una|un|la|el|mi) (mujer|muchacha|chica|nina|nino|senora|persona|"
        r"joven)\b.{0,20}\b(a|en) (una|un|la|el|su) (camioneta|carro|van|coche|troca|auto)",
        r"se (perdio|perdieron) (un|una|mi|mis) (nino|nina|ninos|hijo|hija|hijos)", r"(nino|nina|hijo|hija) desaparecid(o|a)",
        r"(nino|nina|hijo|hija|bebe)\b.{0,25}\b(esta|anda|se) (perdid\w*|desaparecid\w*|perdio)",
        r"no (encuentro|encontramos|aparece) (a )?mi (hij\w*|nin\w*|bebe)",
        r"(necesito|manden|mande|envien|llamen) (a )?los bomberos",
    ],
    "self harm": [r"suicid\w*", r"matarme", r"me quiero (matar|morir)", r"quitarme la vida", r"no quiero vivir",
                  r"morirme", r"quiero morir", r"no quiero (estar viv[oa]|seguir aqui|despertar)",
                  r"(terminar|acabar) con todo", r"(hacerme|hacerse|me quiero hacer|se quiere hacer) dano",
                  r"(me estoy|se esta|se estan|me voy a|se va a) cort(ando|ar)",
                  r"(se va a|me voy a|va a|quiere|amenaza con|amenazando con|amenazo con) (tirar|aventar|lanzar)(se|me)\b",
                  r"(se va a|me voy a|se quiere|amenaza con) (tirar|aventar|lanzar) (del|de la|desde|de un|de una|al|a la)",
                  r"(se|me) (tiro|avento|lanzo) (del|de la|desde el|desde la|de un|de una) (puente|edificio|techo|azotea)",
                  r"(tirarse|aventarse|lanzarse) (del|de la|desde|de un|de una)",
                  r"acabar con (mi|su) (propia )?vida", r"quitar(me|se|le) la vida", r"matarse",
                  r"se (va|quiere) (a )?(matar|morir)", r"no quiero seguir viviendo", r"ya no quiero vivir",
                  r"quiero desaparecer( para siempre| de este mundo)?\b", r"no quiero (existir|estar aqui) (ya|mas)"],
    "traffic": [
        r"accidente de (carro|coche|auto|transito)", r"(choque|accidente|chocaron).{0,40}(herid\w*|atrapad\w*|sangr\w*)",
    ],
    "power, water, trapped": [
        *_LINES_ES,
        r"(agua|inundacion) (entrando|subiendo) (a|en) (mi|la) (casa|carro)",
        r"(echando|sacando|echa|saca) (mucho )?humo",
        rf"({_GENTE}|estamos|estoy) (esta |estan )?atrapad\w*", r"atrapad\w* (debajo|abajo|bajo)",
        r"(se derrumbo|se cayo|colapso|se vino abajo|se desplomo) (un|el|la|una|nuestro|nuestra|mi) (edificio|casa|techo|"
        r"puente|pared|balcon)\b.{0,40}\b(gente|personas|alguien|adentro|atrapad\w*|debajo)",
        # "se me cayó un árbol encima del carro y no puedo salir" started the fallen-tree form
        # "no podemos salir del vecindario" is a road blocked by a fallen tree, not people trapped
        r"no (puedo|podemos|puede|pueden) salir(?! a\b| de (viaje|vacaciones|la cochera|mi cochera|la entrada|"
        r"mi entrada|el estacionamiento|la colonia|la calle|mi calle|nuestra calle|la cuadra)| del (vecindario|barrio|"
        r"fraccionamiento|complejo))",
        r"atrapad\w* (en|dentro de|adentro de) (el |la |un |una |mi )?(carro|coche|casa|edificio|elevador|incendio|agua)",
    ],
    "explosion": [r"explot\w*", r"bomba"],
    "screams": [r"(gritando|grita|gritaba|gritan) (por |pidiendo )?(ayuda|auxilio)", r"pide(n)? ayuda a gritos"],
    "general": [r"emergencia", r"auxilio"],
}

# Wordings that are emergencies in any language; the resident's language is then judged from the
# rest of the message.
SHARED = [r"911", r"9 1 1", r"explosion", r"explosiones"]

# 311 questions that share words with emergencies. Each is blanked out before matching, so "the
# smoke detector battery" says nothing, while "smoke detector going off, the hall is full of
# smoke" still matches on its second half.
NEGATIVES = [
    # fire services and fire words that are not a fire
    r"fire (hydrants?|plugs?|inspections?|inspectors?|departments?|dept|station|stations|house|marshals?|code|codes|"
    r"lane|lanes|pits?|extinguishers?|safety|prevention|trucks?|engine|ants?|museum|fighters?|academy|"
    r"chief|sprinklers?|escapes?|permits?|ban|hazards?|report|reports|rescue|training|drills?|wood|alarm permits?|"
    r"alarm fines?|insurance|season|sale|works)",
    r"firefighters?", r"(camp|bon|open|recreational) fire", r"fireworks? permits?",
    r"(burn|burning|open burning) (permits?|ban|bans|season|rules|barrel)",
    r"(burn|burns|burning|burned|burnt) (trash|garbage|leaves|brush|tires|yard waste|wood|debris|limbs|branches)",
    r"burning (hot|smell from)", r"heated (pool|pools|argument|discussion)",
    r"smoke (detectors?|alarms?( batteries| battery| program| install\w*)?|shop|shops|smell from)",
    r"(people|kids|someone|neighbors?) smoking", r"smoke from (a|the|their|his|her|my neighbors|the neighbors) "
    r"(grill|bbq|barbecue|chimney|fireplace|restaurant|smoker)",
    # guns, shooting and the like that are not an attack
    r"(shooting|gun|rifle|archery|firing) ranges?", r"gun (permits?|licen[cs]es?|violence prevention|safety|show|buyback)",
    r"(concealed|pistol purchase) (carry )?permits?", r"shooting (hoops|baskets|stars|a video|a film|photos)",
    r"(photo|video|film) shoot", r"(flu|covid|rabies|booster|vaccine) shots?", r"shot clinics?",
    r"gunshot detection", r"shotspotter", r"firearm safety", r"shooting (up|out) (from|of)",
    # gas, medicine, traffic and help words in ordinary questions
    r"gas (station|stations|bill|bills|prices?|line work|company|meter reading|grills?)",
    r"natural gas (bill|company|phone)", r"(overdose|od) prevention", r"narcan", r"blood (drive|drives|pressure)",
    r"heat stroke", r"stroke (support|awareness)", r"choking hazards?", r"cpr (class|classes|training|certification)",
    r"drowning in (paperwork|debt|bills|work)",
    # a copy of a report of a crash that is over ("how do i get a police report for a car accident"): before the
    # shorter one below, which would leave "car accident" unmasked
    r"((police|accident|crash) )?reports? (for|of|on|about|from) (a |an |the |my |our |his |her |their )?"
    r"(car |auto |traffic |vehicle )?(accident|crash|wreck)", r"(accident|crash|police) reports?",
    # an animal hurt, not a person: Animal Care & Control, not 911 ("encontre un gato herido en la calle")
    r"(dog|dogs|puppy|cat|cats|kitten|deer|animal|animals|bird|squirrel|raccoon|possum|opossum|fox|pet)"
    r" (that |which )?(is |was |got |has been )?(injured|hurt|hit by a (car|truck|vehicle))", r"(poison control|poison ivy|rat poison)",
    r"ambulance (bill|bills|fee|fees)", r"(no one|noone|nobody) (is |was |got )?(hurt|injured)", r"dying to",
    r"(grass|tree|trees|plants?|lawn|light) (is )?dying", r"dying (tree|trees|grass|plants?)",
    r"burglar alarms?", r"false alarms?",
    r"(pole|lamp post|streetlight|street light|sign|mailbox|fence|hydrant|guardrail|signal)"
    r"( (at|on|by|near|in front of|outside|across from) [a-z ]{1,40}?)? (got|was|has been) "
    r"(hit|struck|knocked (down|over)) by a (car|truck|bus|vehicle|driver)", r"transformers? (exploded|blew|blew up|explosion)",
    # 911 and emergency in ordinary questions
    # water with sulphur (a water-quality question), not a gas leak; "the house smells like rotten eggs" still counts
    r"(water|sewer|drain|drains|storm drain|creek|toilet|sink|shower|faucet|tap)\b.{0,20}\b(smells?|smelling|smelled) "
    r"(like|of) rotten eggs?", r"(agua|drenaje|alcantarilla|coladera|llave|regadera)\b.{0,20}\bhuele a huevos? podridos?",
    r"non emergenc(y|ies)", r"not an emergency", r"(drowning|suicide|overdose|gun violence|violence|crime|fire|flood) "
    r"(prevention|hazards?|awareness|training|safety|class|classes|program|programs)",
    # questions about 911 itself ("when should i call 911 instead of 311"): what follows still counts
    r"((when|should|can|do|must) (i|we|you|one) |to )?(call|calling|dial|dialing|phone) 911 (instead|for|or|vs|versus|by "
    r"(accident|mistake)|accidentally)", r"(accidentally|accidently|by accident|by mistake) (call|called|dial|dialed) 911",
    r"(is|isnt) 911 (the right|the correct|for|free)", r"instead of (calling )?911",
    # probe AD: questions about 911 and ambulances themselves, careers and classes
    r"(how long|how fast)\b.{0,25}\b(911|ambulances?|the police|paramedics)\b.{0,20}\b(take|come|respond|arrive|get)",
    r"(an |the )?ambulance (was |is )?(blocking|blocked|parked)", r"(learn|learning|take|taking|teach|teaching) cpr",
    r"(wants?|want|going|studying|how) to (be|become) (a |an )?(paramedic|firefighter|emt|police officer|nurse)",
    r"domestic violence (shelter|shelters|hotline|program|resources?|services?|advocate)",
    r"(shooting|shoot|set|setting) off fireworks", r"(not|isnt|no|nothing) sparking",
    r"(going|gonna) to (kill|hit|hurt) someone (one day|someday|eventually|soon)", r"emergency (rental|rent|assistance|housing|shelters?|alerts?|management|"
    r"preparedness|kits?|plans?|contacts?|repairs?|food|vets?|fund|funds|loans?|notifications?|money|cash)",
    r"911 (calls?|recordings?|records|address\w*|dispatchers?|signs?|fee|fees|center)", r"911 or 311", r"311 or 911",
    r"(ok|okay|yes|yeah|i|we|ive|weve|they|already|just) (already |just )?(called|dialed|phoned|rang) 911",
    r"ya (llame|llamamos|llamaron|le llame|le llamamos) al 911",
    # Spanish
    r"(hidrante|boca) de incendios?", r"(inspeccion|seguridad|prevencion|extintor|extintores|riesgo|alarma) "
    r"(de|contra) incendios?", r"(departamento|estacion|estaciones|camion) de bomberos", r"fuegos? artificial\w*",
    r"hormigas de fuego", r"armas de fuego", r"(detector|detectores|alarma|alarmas) de humo",
    r"permiso (de|para) (armas?|quemar|fuegos?)", r"campo de tiro",
    r"(quema|queman|quemando|quemar) (basura|hojas|llantas|ramas)", r"donar sangre",
    r"(animal|perro|gato|venado|mapache) muert(o|a)", r"(asistencia|ayuda|dinero|fondos) de emergencia", r"(exploto|explotaron) (un |el )?transformador",
    r"transformador (exploto|exploso)",
    r"no es (una |de )?emergencia", r"no son (de )?emergencias?",
    r"(cuando|como) (debo|se debe|hay que|tengo que) (llamar|marcar) al 911 y cuando al 311", r"el 911 es gratis",
    r"(cuanto tarda|cuanto se tarda|cuanto tardan) (la ambulancia|el 911|la policia|los paramedicos)",
    r"(la |una )?ambulancia (bloqueo|bloquea|estaba bloqueando|tapaba|tapo)", r"(llame|llamamos) al 911\b.{0,20}\b(nunca|no) "
    r"(llegaron|vinieron|llego)", r"(ser|estudiar para) (paramedico|bombero|policia|enfermer[oa])",
    r"(refugio|refugios|programa|ayuda|linea) (para|de|contra) (la )?violencia domestica",
    r"prevencion del suicidio", r"(van a|va a) (atropellar|matar) a alguien", r"morir de (la )?risa",
    r"me (muero|quiero morir|voy a morir) de (la )?(risa|hambre|verguenza|calor|frio)",
    r"((debo|puedo|cuando debo|cuando se debe|se debe|hay que) )?(llamar|marcar|llamo|marco) al 911 (por|en vez|o |para (una|un|el|la) "
    r"(queja|reporte|ruido|bache))", r"(llame|llamo|marque) al 911 por (accidente|error|equivocacion)", r"(nadie|ninguno) (esta |salio |resulto )?herid\w*",
    r"reporte( policial| policiaco| de (la )?policia)? (de|del|por|sobre) (un |el |la |mi |su )?(accidente|choque)"
    r"( de (carro|auto|coche|trafico|transito))?", r"reporte (del |de )?accidente", r"reporte policial",
    r"(animal|animales|perro|perros|perrito|gato|gatos|gatito|venado|mapache|pajaro|ave|ardilla|zorro|mascota)"
    r" (que )?(esta |estaba )?(herid(o|a|os|as)|atropellad(o|a|os|as))", r"(factura|recibo) del gas", r"gasolineras?",
    r"me esta matando", r"derrame de (aceite|petroleo|quimicos|agua)",
    r"veneno (para|de) (ratas|ratones|cucarachas|hormigas|plagas)",
]


def _fold_pattern(fragment: str) -> str:
    """Fold repeated letters in a pattern as `normalise` folds them in text (not escapes like `\\bb`)."""
    return re.sub(r"(?<!\\)([a-z])\1+", r"\1", fragment)


def _flatten(themes: dict[str, list[str]]) -> list[str]:
    return [_fold_pattern(fragment) for fragments in themes.values() for fragment in fragments]


_PREFIX = 3  # characters of a word start that pick the fragments to try there


def _extend(items: _parser.SubPattern | list, starts: set[str]) -> tuple[set[str], set[str]]:
    """Grow each prefix in `starts` over the parsed pattern `items`: (still open, complete)."""
    open_, done = set(starts), set()
    for op, av in items:
        if not open_:
            break
        if op is _c.LITERAL:
            grown = {p + chr(av) for p in open_}
        elif op is _c.IN and all(kind in (_c.LITERAL, _c.RANGE) for kind, _ in av):
            chars = {chr(v) for kind, v in av if kind is _c.LITERAL}
            chars |= {chr(c) for kind, v in av if kind is _c.RANGE for c in range(v[0], v[1] + 1)}
            grown = {p + c for p in open_ for c in chars}
        elif op is _c.SUBPATTERN:
            grown, finished = _extend(av[-1], open_)
            done |= finished
        elif op is _c.BRANCH:
            grown = set()
            for branch in av[1]:
                more, finished = _extend(branch, open_)
                grown |= more
                done |= finished
        elif op in (_c.MAX_REPEAT, _c.MIN_REPEAT):
            low, high, item = av
            once, finished = _extend(item, open_)
            done |= finished
            if high > 1:  # what follows a repeat is unknown: its prefixes end here
                done |= once
                once = set()
            grown = (open_ | once) if low == 0 else once
        elif op in (_c.AT, _c.ASSERT, _c.ASSERT_NOT):
            continue  # zero width
        else:  # \w, ., a category: the prefix ends here
            done |= open_
            open_ = set()
            break
        done |= {p for p in grown if len(p) >= _PREFIX}
        open_ = {p for p in grown if len(p) < _PREFIX}
    return open_, done


def _prefixes(fragment: str) -> set[str]:
    """Every way a match of `fragment` can begin, up to _PREFIX characters."""
    open_, done = _extend(_parser.parse(fragment), {""})
    prefixes = open_ | done
    if "" in prefixes:
        raise ValueError(f"safety pattern {fragment!r} must begin with a letter, digit or word")
    return prefixes


class _WordStartIndex:
    """Whether any fragment matches at a word start, trying only fragments that can begin there.

    One alternation of every fragment would be tried at every word of every message; indexing the
    fragments by how they begin (up to _PREFIX characters) makes a typical scan several times cheaper.
    """

    def __init__(self, fragments: list[str]) -> None:
        by_prefix: dict[str, list[str]] = {}
        for fragment in fragments:
            for prefix in _prefixes(fragment):
                by_prefix.setdefault(prefix, []).append(fragment)
        self._by_prefix = {prefix: _plain(group) for prefix, group in by_prefix.items()}
        self._lengths = sorted({len(prefix) for prefix in by_prefix})

    def search(self, folded: str) -> bool:
        """Whether a fragment matches in `folded` (the output of `normalise`)."""
        position = 0
        for word in folded.split(" "):
            for length in self._lengths:
                pattern = self._by_prefix.get(folded[position:position + length])
                if pattern is not None and pattern.match(folded, position):
                    return True
            position += len(word) + 1
        return False


def _plain(fragments: list[str]) -> re.Pattern[str]:
    return re.compile(rf"\b(?:{'|'.join(fragments)})\b")


_EN = _flatten(ENGLISH)
_ES = _flatten(SPANISH)
_SHARED = _flatten({"shared": SHARED})
# The hot path: one scan for any wording. Only a message it matches (an emergency or a
# look-alike) is masked and scanned per language.
_ANY = _WordStartIndex(_EN + _ES + _SHARED)
_NEGATIVE_RE = _plain(_flatten({"negatives": NEGATIVES}))
_BY_LANGUAGE = {"en": _WordStartIndex(_EN), "es": _WordStartIndex(_ES), "shared": _WordStartIndex(_SHARED)}

MESSAGES = {
    "en": "If this is an emergency or anyone is in danger, call 911 now. 311 cannot dispatch police, fire or "
    "ambulance.",
    "es": "Si es una emergencia o alguien está en peligro, llame al 911 ahora. El 311 no puede enviar policía, "
    "bomberos ni ambulancia.",
}
# What to do meanwhile, for the emergencies where the first step is not obvious; said only when the message
# describes one (a gas smell got the downed-line advice when there was one message for all). Thoughts of
# suicide get the 988 Suicide & Crisis Lifeline too (call or text, any time; Spanish by pressing 2): "i want to
# kill myself" got only the generic 911 text.
ADVICE = {
    "gas": {"en": "Smell gas: leave the building first, then call 911 and Piedmont Natural Gas at 1-800-752-7504, "
                  "and don't switch anything on or off.",
            "es": "Si huele a gas: primero salga del lugar, luego llame al 911 y a Piedmont Natural Gas al "
                  "1-800-752-7504, y no prenda ni apague nada."},
    "lines": {"en": "A downed power line: stay at least 30 feet away, keep others away, and call 911.",
              "es": "Un cable eléctrico caído: aléjese al menos 10 metros, mantenga a otros lejos y llame al 911."},
    "poison": {"en": "Poisoning: if the person is awake and breathing, call Poison Help at 1-800-222-1222 (free, "
                     "any time, in Spanish too); if not, call 911.",
               "es": "Envenenamiento: si la persona está despierta y respira, llame a la Línea de Ayuda por "
                     "Envenenamiento al 1-800-222-1222 (gratis, a toda hora, en español); si no, llame al 911."},
    "crisis": {"en": "If you or someone you know is thinking about suicide or self-harm, you can also call or "
                     "text 988, the Suicide & Crisis Lifeline, any time.",
               "es": "Si usted o alguien que conoce está pensando en el suicidio o en hacerse daño, también puede "
                     "llamar o enviar un mensaje de texto al 988, la Línea de Prevención del Suicidio y Crisis, a "
                     "cualquier hora (marque 2 para español)."},
}
_ADVICE_RE = {
    "gas": _plain(_flatten({"gas": ENGLISH["gas"] + SPANISH["gas"]})),
    "lines": _plain(_flatten({"lines": _LINES_EN + _LINES_ES})),
    "poison": _plain(_flatten({"poison": _POISON_EN + _POISON_ES})),
    "crisis": _plain(_flatten({"crisis": ENGLISH["self harm"] + SPANISH["self harm"]})),
}


def emergency_match(text: str) -> set[str]:
    """Which wordings ("en", "es", "shared") describe an emergency in `text`, look-alikes masked."""
    folded = normalise(text)
    if not _ANY.search(folded):
        return set()  # the common case: one scan, no masking
    masked = _NEGATIVE_RE.sub(" | ", folded)
    return {name for name, index in _BY_LANGUAGE.items() if index.search(masked)}


# Wordings that say a message asks about emergencies, recalls one or imagines one, rather than describing one
# happening: "what should i do if i ever smell gas", "last year our house burned down and i still need the
# debris removed". The guard still answers them (an emergency said that way is still answered), but the bot
# hears the words too, so the question is answered: it heard only `/emergency`, and the resident got nothing
# but "call 911" (probe AC).
FRAMES = [
    r"(last|this past) (year|month|week|night|weekend|summer|winter|spring|fall|friday|saturday|sunday|monday|"
    r"tuesday|wednesday|thursday)", r"(years?|months?|weeks?|days?) ago", r"yesterday",
    r"el (ano|mes|fin de semana|verano|invierno|viernes|sabado|domingo|lunes|martes|miercoles|jueves) pasado",
    r"la semana pasada", r"ayer", r"anteayer", r"antier",
    r"hace (un|una|dos|tres|unos|unas|varios|varias|[0-9]+) (ano|anos|mes|meses|semana|semanas|dia|dias)",
    r"(what|how) (should|do|would|can|to) (i |we |you |one )?(do )?(if|when|in case)", r"if (i|we|you) ever",
    r"in case (of|there)", r"(does|do|will|would|can) (311|the city|you guys|the county) (send|handle|respond|help)",
    r"que (hago|debo hacer|hacemos|se hace|hay que hacer|pasa) (si|cuando|en caso)", r"si algun dia", r"en caso de",
    r"(prevention|awareness|training|class|classes|program|programs|hazard|hazards|prevencion|programa|clases?)",
    r"(that|which) (burned|burnt|caught fire|flooded|exploded)", r"que se (quemo|incendio|inundo)",
    r"(el|del) incendio (del|de la|de hace)", r"(after|since) the (fire|flood|shooting|accident|crash)",
    r"(despues|desde) (del|de la) (incendio|inundacion|balacera|accidente|choque)", r"(in|en|since|desde) (19|20)[0-9]{2}",
    r"(what|which) (number|phone number|line)", r"(a )?(que|cual) (numero|telefono)",
]
_FRAME_RE = _plain(_flatten({"frames": FRAMES}))
# Everything but the bare word "emergency" and 911: "EMERGENCY: my garbage cart was stolen!!!" is answered with 911
# (it may be one), and its question still reaches the bot.
_DESCRIBED = _WordStartIndex(_flatten({k: v for k, v in ENGLISH.items() if k != "general"})
                             + _flatten({k: v for k, v in SPANISH.items() if k != "general"})
                             + _flatten({"shared": [w for w in SHARED if "9" not in w]}))


def asks_about_emergencies(text: str) -> bool:
    """Whether `text`, which the guard answers, asks about emergencies, recalls or imagines one (FRAMES), or only
    says "emergency" or 911, rather than describing one happening now: its words then go to the bot as well."""
    masked = _NEGATIVE_RE.sub(" | ", normalise(text))
    return bool(_FRAME_RE.search(masked)) or not _DESCRIBED.search(masked)


def emergency_language(text: str) -> str | None:
    """The language of the emergency described in `text`, or None if there is none.

    Wordings of one language decide it; a neutral one ("911") or wordings of both languages
    leave it to the language detector, so "911 ayuda" is answered in Spanish.
    """
    found = emergency_match(text)
    if not found:
        return None
    if "en" in found and "es" not in found:
        return "en"
    if "es" in found and "en" not in found:
        return "es"
    return detect_language(text)[0]


def crisis_line(language: str) -> str:
    """The 988 Suicide & Crisis Lifeline sentence, in `language` (English for one we do not serve)."""
    return ADVICE["crisis"][language if language in MESSAGES else "en"]


def emergency_reply(language: str, text: str = "") -> str:
    """The 911 guidance in `language` (English for a language we do not serve), with what to do meanwhile
    when `text` describes a gas smell or a downed power line."""
    lang = language if language in MESSAGES else "en"
    folded = _NEGATIVE_RE.sub(" | ", normalise(text)) if text else ""
    advice = [ADVICE[kind][lang] for kind, pattern in _ADVICE_RE.items() if folded and pattern.search(folded)]
    return " ".join([MESSAGES[lang], *advice])
