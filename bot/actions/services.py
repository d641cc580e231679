"""The bot's single source for service requests: labels, Open311 service codes, attributes.

chat_server's Open311 catalogue uses exactly these service codes and attribute codes/values.
`bot/build_domain.py` generates the form parts of `bot/domain.yml` and
`training_data/forms_rules.yml` from this module, and the validation actions parse answers
with it, so a change here is a change everywhere (re-run `build_domain.py`).

Attribute kinds:
  enum    one value from `values`
  multi   one or more values from `values` (a list)
  string  free text (validated by `validator` when given)
  number  a non-negative whole number
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Value:
    code: str
    en: str  # button title / display name, English
    es: str  # button title / display name, Spanish
    synonyms: tuple[str, ...] = ()  # extra free-text words (both languages, lowercase, no accents needed)


@dataclass(frozen=True)
class Attribute:
    code: str
    kind: str  # enum | multi | string | number
    prompt_en: str
    prompt_es: str
    values: tuple[Value, ...] = ()
    required: bool = True
    validator: str | None = None  # name of a parser in parsing.py for strings ("plate")
    keywords: tuple[str, ...] = ()  # words that name this attribute in a correction ("change the size")


@dataclass(frozen=True)
class Service:
    label: str
    service_code: str
    name_en: str
    name_es: str
    attributes: tuple[Attribute, ...] = field(default_factory=tuple)

    @property
    def form(self) -> str:
        return f"{self.label}_form"

    @property
    def required_slots(self) -> list[str]:
        return ["location", *[a.code for a in self.attributes], "description", *CONTACT_SLOTS]


CONTACT_SLOTS = ("contact_name", "phone", "email")
COMMON_SLOTS = ("location", "description", *CONTACT_SLOTS)

YES_NO = (
    Value("yes", "Yes", "Sí", ("yes", "yeah", "yep", "y", "si", "sí", "claro", "correct", "it was", "si estaba")),
    Value("no", "No", "No", ("no", "nope", "n", "not", "wasn't", "was not", "no estaba")),
)

SERVICES: dict[str, Service] = {
    s.label: s
    for s in (
        Service(
            "report_pothole", "POTHOLE", "Pothole", "Bache",
            (
                Attribute(
                    "road_position", "enum",
                    "Where is the pothole in the road?",
                    "¿En qué parte de la calle está el bache?",
                    (
                        Value("lane", "Travel lane", "Carril de circulación",
                              ("lane", "middle of the road", "middle of the street", "travel lane", "in the road",
                               "carril", "medio de la calle", "en la calle", "centro de la calle")),
                        Value("shoulder", "Shoulder / edge", "Orilla / borde",
                              ("shoulder", "edge", "side of the road", "curb", "gutter", "orilla", "borde",
                               "acotamiento", "banqueta", "cuneta", "a un lado")),
                        Value("intersection", "Intersection", "Intersección",
                              ("intersection", "corner", "interseccion", "intersección", "esquina", "cruce")),
                        Value("crosswalk", "Crosswalk", "Paso de peatones",
                              ("crosswalk", "cross walk", "paso de peatones", "paso peatonal", "cebra")),
                        Value("bike_lane", "Bike lane", "Ciclovía",
                              ("bike lane", "bike", "bicycle", "ciclovia", "ciclovía", "carril de bicicleta",
                               "bici")),
                    ),
                    keywords=("position", "where in the road", "lane", "posicion", "posición", "carril"),
                ),
                Attribute(
                    "size", "enum",
                    "About how big is it?",
                    "¿Más o menos de qué tamaño es?",
                    (
                        Value("small", "Small (smaller than a plate)", "Pequeño (menos que un plato)",
                              ("small", "little", "tiny", "pequeño", "pequeno", "chico", "chiquito")),
                        Value("medium", "Medium (tire-sized)", "Mediano (como una llanta)",
                              ("medium", "mid", "average", "tire", "mediano", "regular", "llanta")),
                        Value("large", "Large (bigger than a tire)", "Grande (más que una llanta)",
                              ("large", "big", "huge", "massive", "enormous", "giant", "grande", "enorme",
                               "gigante", "inmenso")),
                    ),
                    keywords=("size", "tamaño", "tamano"),
                ),
            ),
        ),
        Service(
            "report_streetlight", "STREETLIGHT", "Streetlight problem", "Problema con alumbrado público",
            (
                Attribute(
                    "light_problem", "enum",
                    "What's wrong with the light?",
                    "¿Qué problema tiene la luz?",
                    (
                        Value("out", "It's out", "Está apagada",
                              ("out", "dark", "not working", "off", "dead", "burned out", "broken light",
                               "apagada", "apagado", "no prende", "no enciende", "fundida", "no funciona",
                               "oscuro")),
                        Value("flickering", "Flickering", "Parpadea",
                              ("flicker", "flickering", "blinking", "on and off", "cycling", "parpadea",
                               "parpadeando", "prende y apaga", "intermitente")),
                        Value("on_during_day", "On during the day", "Prendida de día",
                              ("day", "daytime", "during the day", "all day", "de dia", "de día",
                               "prendida de dia", "todo el dia")),
                        Value("damaged_pole", "Damaged pole", "Poste dañado",
                              ("pole", "damaged", "leaning", "knocked down", "hit", "poste", "dañado", "danado",
                               "chueco", "caido", "caído", "inclinado")),
                    ),
                    keywords=("problem", "light problem", "problema"),
                ),
                Attribute(
                    "pole_number", "string",
                    "If you can see a number on the pole, what is it? (Say \"skip\" if you can't see one.)",
                    "Si ve un número en el poste, ¿cuál es? (Diga \"omitir\" si no lo ve.)",
                    required=False, validator="pole_number",
                    keywords=("pole number", "pole", "numero de poste", "número de poste", "poste"),
                ),
            ),
        ),
        Service(
            "report_missed_pickup", "MISSED_PICKUP", "Missed collection", "Recolección no realizada",
            (
                Attribute(
                    "cart_type", "multi",
                    "Which cart or item was missed? You can pick more than one.",
                    "¿Qué contenedor o artículo no se recogió? Puede elegir más de uno.",
                    (
                        Value("garbage", "Garbage", "Basura",
                              ("garbage", "trash", "black cart", "rubbish", "basura", "desechos",
                               "bote negro", "contenedor negro")),
                        Value("recycling", "Recycling", "Reciclaje",
                              ("recycling", "recycle", "green cart", "recyclables", "reciclaje", "reciclables",
                               "reciclar", "bote verde")),
                        Value("yard_waste", "Yard waste", "Desechos de jardín",
                              ("yard waste", "yard", "leaves", "grass", "branches", "brush", "jardin", "jardín",
                               "hojas", "ramas", "pasto", "zacate")),
                        Value("bulky_item", "Bulky item", "Artículo voluminoso",
                              ("bulky", "bulky item", "couch", "sofa", "mattress", "furniture", "appliance",
                               "voluminoso", "colchon", "colchón", "sillon", "sillón", "mueble", "muebles")),
                    ),
                    keywords=("cart", "carts", "bin", "contenedor", "bote"),
                ),
                Attribute(
                    "cart_at_curb_by_7am", "enum",
                    "Was the cart at the curb by 7 a.m. on collection day?",
                    "¿Estaba el contenedor en la acera antes de las 7 a.m. el día de recolección?",
                    YES_NO,
                    keywords=("7am", "7 am", "curb", "acera", "7 de la mañana"),
                ),
            ),
        ),
        Service(
            "report_graffiti", "GRAFFITI", "Graffiti", "Grafiti",
            (
                Attribute(
                    "surface", "enum",
                    "What is the graffiti on?",
                    "¿Dónde está el grafiti?",
                    (
                        Value("public_property", "Public property", "Propiedad pública",
                              ("public", "park", "city building", "wall", "bus stop", "publica", "pública",
                               "parque", "edificio", "pared", "parada")),
                        Value("private_property", "Private property", "Propiedad privada",
                              ("private", "my house", "my fence", "business", "store", "privada", "mi casa",
                               "mi cerca", "negocio", "tienda")),
                        Value("sign", "Street sign", "Letrero",
                              ("sign", "stop sign", "street sign", "letrero", "señal", "senal", "rotulo")),
                        Value("bridge", "Bridge / overpass", "Puente",
                              ("bridge", "overpass", "underpass", "tunnel", "puente", "paso a desnivel",
                               "tunel", "túnel")),
                        Value("other", "Something else", "Otro",
                              ("other", "something else", "dumpster", "mailbox", "otro", "otra cosa")),
                    ),
                    keywords=("surface", "superficie"),
                ),
                Attribute(
                    "offensive", "enum",
                    "Is it offensive or hateful (profanity, slurs, gang symbols)?",
                    "¿Es ofensivo o de odio (groserías, insultos, símbolos de pandillas)?",
                    YES_NO,
                    keywords=("offensive", "ofensivo"),
                ),
            ),
        ),
        Service(
            "report_abandoned_vehicle", "ABANDONED_VEHICLE", "Abandoned vehicle", "Vehículo abandonado",
            (
                Attribute(
                    "plate", "string",
                    "What is the license plate? (Say \"unknown\" if you can't see it.)",
                    "¿Cuál es la placa? (Diga \"no sé\" si no la puede ver.)",
                    validator="plate",
                    keywords=("plate", "license", "tag", "placa", "matricula", "matrícula"),
                ),
                Attribute(
                    "days_parked", "number",
                    "About how many days has it been parked there?",
                    "¿Más o menos cuántos días lleva estacionado ahí?",
                    keywords=("days", "how long", "dias", "días", "cuanto tiempo", "cuánto tiempo"),
                ),
                Attribute(
                    "vehicle_description", "string",
                    "Describe the vehicle: color, make, model (e.g. \"white Honda Civic\").",
                    "Describa el vehículo: color, marca, modelo (por ejemplo \"Honda Civic blanco\").",
                    validator="vehicle",
                    keywords=("vehicle", "car description", "color", "make", "model", "vehiculo", "vehículo",
                              "carro", "marca", "modelo"),
                ),
            ),
        ),
        Service(
            "report_fallen_tree", "FALLEN_TREE", "Fallen tree or limb", "Árbol o rama caída",
            (
                Attribute(
                    "blocking", "enum",
                    "What is the tree blocking or touching?",
                    "¿Qué está bloqueando o tocando el árbol?",
                    (
                        Value("road", "The road", "La calle",
                              ("road", "street", "lane", "traffic", "calle", "carretera", "camino", "trafico")),
                        Value("sidewalk", "The sidewalk", "La banqueta",
                              ("sidewalk", "walkway", "path", "banqueta", "acera", "sendero")),
                        Value("power_lines", "Power lines", "Cables eléctricos",
                              ("power line", "power lines", "wires", "lines", "cables", "electric", "cable",
                               "cables electricos", "cables eléctricos", "luz")),
                        Value("property", "A house, car or yard", "Una casa, carro o patio",
                              ("house", "home", "car", "yard", "roof", "property", "casa", "carro", "techo",
                               "patio", "propiedad")),
                        Value("none", "Nothing is blocked", "No bloquea nada",
                              ("none", "nothing", "not blocking", "nada", "ninguno", "no bloquea")),
                    ),
                    keywords=("blocking", "bloqueando", "bloquea"),
                ),
            ),
        ),
        Service(
            "report_water_leak", "WATER_LEAK", "Water leak", "Fuga de agua",
            (
                Attribute(
                    "leak_location", "enum",
                    "Where is the water coming from?",
                    "¿De dónde sale el agua?",
                    (
                        Value("street", "The street", "La calle", ("street", "road", "calle", "pavimento")),
                        Value("sidewalk", "The sidewalk", "La banqueta", ("sidewalk", "banqueta", "acera")),
                        Value("meter_box", "Water meter box", "Caja del medidor",
                              ("meter", "meter box", "medidor", "caja del medidor", "contador")),
                        Value("hydrant", "Fire hydrant", "Hidrante",
                              ("hydrant", "fire hydrant", "hidrante", "boca de incendios")),
                        Value("yard", "A yard", "Un patio", ("yard", "lawn", "grass", "patio", "jardin", "jardín",
                                                              "cesped", "césped")),
                    ),
                    keywords=("leak location", "coming from", "where is the water", "de donde", "de dónde"),
                ),
                Attribute(
                    "severity", "enum",
                    "How much water is coming out?",
                    "¿Cuánta agua está saliendo?",
                    (
                        Value("trickle", "A trickle", "Un goteo",
                              ("trickle", "drip", "dripping", "little", "small", "slow", "goteo", "gotea",
                               "poca", "poquita")),
                        Value("steady", "A steady flow", "Un flujo constante",
                              ("steady", "flowing", "running", "constant", "medium", "constante", "corriendo",
                               "fluye")),
                        Value("gushing", "Gushing / flooding", "A chorros / inundando",
                              ("gushing", "gush", "spraying", "flooding", "a lot", "lots", "huge", "geyser",
                               "chorros", "mucha", "inundando", "brotando")),
                    ),
                    keywords=("severity", "how much", "cuanta", "cuánta", "gravedad"),
                ),
            ),
        ),
        Service(
            "report_illegal_dumping", "ILLEGAL_DUMPING", "Illegal dumping", "Basura tirada ilegalmente",
            (
                Attribute(
                    "material", "multi",
                    "What was dumped? You can pick more than one.",
                    "¿Qué tiraron? Puede elegir más de uno.",
                    (
                        Value("household_trash", "Household trash", "Basura doméstica",
                              ("trash", "garbage", "bags", "household", "basura", "bolsas", "desechos")),
                        Value("furniture", "Furniture / mattresses", "Muebles / colchones",
                              ("furniture", "couch", "sofa", "mattress", "chair", "muebles", "mueble", "sillon",
                               "sillón", "colchon", "colchón", "colchones", "silla")),
                        Value("tires", "Tires", "Llantas", ("tire", "tires", "tyres", "llanta", "llantas",
                                                            "neumaticos", "neumáticos")),
                        Value("construction_debris", "Construction debris", "Escombros de construcción",
                              ("construction", "debris", "drywall", "lumber", "shingles", "concrete", "bricks",
                               "escombro", "escombros", "construccion", "construcción", "madera", "ladrillos")),
                        Value("hazardous", "Hazardous (chemicals, paint, oil)", "Peligroso (químicos, pintura)",
                              ("hazardous", "chemicals", "paint", "oil", "barrels", "drums", "peligroso",
                               "quimicos", "químicos", "pintura", "aceite", "barriles")),
                        Value("other", "Something else", "Otra cosa", ("other", "something else", "otro",
                                                                        "otra cosa")),
                    ),
                    keywords=("material", "what was dumped", "que tiraron", "qué tiraron"),
                ),
            ),
        ),
    )
}

SLOT_KEYWORDS: dict[str, tuple[str, ...]] = {
    "location": ("address", "location", "street", "place", "where", "direccion", "dirección", "ubicacion",
                 "ubicación", "calle", "lugar"),
    "description": ("description", "details", "descripcion", "descripción", "detalles"),
    "contact_name": ("name", "nombre"),
    "phone": ("phone", "number", "cell", "telefono", "teléfono", "celular", "numero", "número"),
    "email": ("email", "e-mail", "mail", "correo"),
}


def service_for_form(form_name: str) -> Service | None:
    for service in SERVICES.values():
        if service.form == form_name:
            return service
    return None


def attribute(code: str) -> Attribute | None:
    for service in SERVICES.values():
        for attr in service.attributes:
            if attr.code == code:
                return attr
    return None


def all_attribute_codes() -> list[str]:
    seen: list[str] = []
    for service in SERVICES.values():
        for attr in service.attributes:
            if attr.code not in seen:
                seen.append(attr.code)
    return seen
