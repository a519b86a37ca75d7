"""Synthetic news in English, Ukrainian and Russian, written for these benches; the generator knows
which items are on topic.

On topic: Ukrainian children deported from occupied towns, taken to camps, given Russian
passports, returned; off topic: city works, weather, culture, sport, economy. Texts are filled
from sentence templates with per-item facts (towns, numbers, names, weekdays, months) and a
quoted official built from parts, so two items on one subject share sentence frames but not
their facts, as real news of one kind does. Everything is a pure function of (seed, uid): a
server in another process renders the same item the bench counts.

  NewsWriter(seed).item(uid, lang, on_topic, path=..., min_bytes=900)   a feed item with its text
  NewsWriter(seed).headline(rng, lang, on_topic)                        a title alone (≤ 11 words)
  render_feed(fmt, name, items, base)     RSS 2.0 (rss2), Atom (atom) or RSS 1.0 (rss1) document
  article_page(item, outlet, seed)        ~50 KB page: navigation, sidebars with "most read" and
                                          "latest", related links, comments, footer, scripts
  simple_page(item)                       a bare page with the item's text
"""

from __future__ import annotations

import html
import json
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

LANGS = ("en", "uk", "ru")
COUNTS = [*range(5, 21), *range(25, 31), *range(35, 41)]   # "12 дітей", never "22 дитини"
OFF_SUBJECTS = ("city", "weather", "culture", "sport", "economy")
EPOCH = datetime(2026, 3, 2, 6, 0, tzinfo=timezone.utc)

# Occupied towns: English; Ukrainian genitive, "in" phrase; Russian genitive, "in" phrase.
TOWNS = [
    ("Kherson", "Херсона", "у Херсоні", "Херсона", "в Херсоне"),
    ("Mariupol", "Маріуполя", "у Маріуполі", "Мариуполя", "в Мариуполе"),
    ("Melitopol", "Мелітополя", "у Мелітополі", "Мелитополя", "в Мелитополе"),
    ("Berdiansk", "Бердянська", "у Бердянську", "Бердянска", "в Бердянске"),
    ("Enerhodar", "Енергодара", "в Енергодарі", "Энергодара", "в Энергодаре"),
    ("Henichesk", "Генічеська", "у Генічеську", "Геническа", "в Геническе"),
    ("Skadovsk", "Скадовська", "у Скадовську", "Скадовска", "в Скадовске"),
    ("Tokmak", "Токмака", "у Токмаку", "Токмака", "в Токмаке"),
]
# Cities far from the front: the same forms.
CITIES = [
    ("Lviv", "Львова", "у Львові", "Львова", "во Львове"),
    ("Odesa", "Одеси", "в Одесі", "Одессы", "в Одессе"),
    ("Poltava", "Полтави", "у Полтаві", "Полтавы", "в Полтаве"),
    ("Chernihiv", "Чернігова", "у Чернігові", "Чернигова", "в Чернигове"),
    ("Vinnytsia", "Вінниці", "у Вінниці", "Винницы", "в Виннице"),
    ("Uzhhorod", "Ужгорода", "в Ужгороді", "Ужгорода", "в Ужгороде"),
    ("Rivne", "Рівного", "у Рівному", "Ровно", "в Ровно"),
    ("Lutsk", "Луцька", "у Луцьку", "Луцка", "в Луцке"),
]
WEEKDAYS = {
    "en": ["on Monday", "on Tuesday", "on Wednesday", "on Thursday", "on Friday", "on Saturday", "on Sunday"],
    "uk": ["у понеділок", "у вівторок", "у середу", "у четвер", "у п'ятницю", "у суботу", "у неділю"],
    "ru": ["в понедельник", "во вторник", "в среду", "в четверг", "в пятницу", "в субботу", "в воскресенье"],
}
MONTHS_GEN = {
    "en": ["January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December"],
    "uk": ["січня", "лютого", "березня", "квітня", "травня", "червня", "липня", "серпня", "вересня",
           "жовтня", "листопада", "грудня"],
    "ru": ["января", "февраля", "марта", "апреля", "мая", "июня", "июля", "августа", "сентября",
           "октября", "ноября", "декабря"],
}
NAMES = {
    "en": ["Olena Kovalenko", "Andrii Melnyk", "Iryna Bondar", "Taras Shevchuk", "Natalia Kravets",
           "Oleh Tkachenko", "Mariia Lysenko", "Serhii Marchenko", "Yulia Savchenko", "Dmytro Ponomarenko",
           "Kateryna Rudenko", "Viktor Hnatiuk"],
    "uk": ["Олена Коваленко", "Андрій Мельник", "Ірина Бондар", "Тарас Шевчук", "Наталія Кравець",
           "Олег Ткаченко", "Марія Лисенко", "Сергій Марченко", "Юлія Савченко", "Дмитро Пономаренко",
           "Катерина Руденко", "Віктор Гнатюк"],
    "ru": ["Елена Коваленко", "Андрей Мельник", "Ирина Бондарь", "Тарас Шевчук", "Наталья Кравец",
           "Олег Ткаченко", "Мария Лысенко", "Сергей Марченко", "Юлия Савченко", "Дмитрий Пономаренко",
           "Екатерина Руденко", "Виктор Гнатюк"],
}

# --- titles -----------------------------------------------------------------------------------------

TITLES = {
    "en": {
        "topic": ["Russia deported {n} Ukrainian children from occupied {town}",
                  "{n} Ukrainian children from occupied {town} taken to camps in Russia",
                  "Ukraine brings back {n} children deported from occupied {town}",
                  "Investigators identify {n} children forcibly transferred from {town} to Russia",
                  "Children from occupied {town} given Russian passports, ombudsman says",
                  "{n} more deported Ukrainian children traced in Russia"],
        "city": ["City council in {city} approves {n} kilometres of new bicycle lanes",
                 "{city} to repair {n} kilometres of roads this summer",
                 "Bus fares in {city} stay unchanged for {m} months"],
        "weather": ["Storm warning for {city}: {n} millimetres of rain expected",
                    "Heat returns to {city} with temperatures up to {t} degrees"],
        "culture": ["Jazz festival in {city} draws {n} bands from abroad",
                    "Museum in {city} reopens its gallery of icons"],
        "sport": ["{city} football club reaches the cup semi-final",
                  "Marathon in {city} sets a record for runners"],
        "economy": ["Grain exports through Odesa ports rise {n} per cent",
                    "Bakery chain opens {n} new shops in {city}"],
    },
    "uk": {
        "topic": ["Росія депортувала {n} українських дітей з окупованого {town_gen}",
                  "З окупованого {town_gen} до Росії вивезли {n} дітей",
                  "Україна повернула {n} дітей, депортованих з окупованого {town_gen}",
                  "Слідчі встановили {n} дітей, примусово переміщених з {town_gen} до Росії",
                  "Дітям з окупованого {town_gen} видали російські паспорти, заявив омбудсман",
                  "Ще {n} депортованих українських дітей знайшли в Росії"],
        "city": ["Міська рада {city_gen} схвалила {n} кілометрів нових велодоріжок",
                 "{city_in} цього літа відремонтують {n} кілометрів доріг",
                 "{city_in} ще {m} місяців не змінюватимуть ціну проїзду"],
        "weather": ["Штормове попередження {city_in}: очікують до {n} міліметрів опадів",
                    "{city_in} повертається спека до {t} градусів"],
        "culture": ["{city_in} пройшов джазовий фестиваль, виступили {n} гуртів",
                    "Музей {city_in} знову відкрив галерею ікон"],
        "sport": ["Футбольний клуб {city_gen} вийшов у півфінал кубка",
                  "Марафон {city_in} зібрав рекордну кількість учасників"],
        "economy": ["Експорт зерна через порти Одеси зріс на {n} відсотків",
                    "Мережа пекарень відкрила {n} нових магазинів {city_in}"],
    },
    "ru": {
        "topic": ["Россия депортировала {n} украинских детей из оккупированного {town_gen}",
                  "Из оккупированного {town_gen} в Россию вывезли {n} детей",
                  "Украина вернула {n} детей, депортированных из оккупированного {town_gen}",
                  "Следователи установили {n} детей, принудительно перемещённых из {town_gen} в Россию",
                  "Детям из оккупированного {town_gen} выдали российские паспорта, заявил омбудсмен",
                  "Ещё {n} депортированных украинских детей нашли в России"],
        "city": ["Горсовет {city_gen} одобрил {n} километров новых велодорожек",
                 "{city_in} этим летом отремонтируют {n} километров дорог",
                 "{city_in} ещё {m} месяцев не будут менять цену проезда"],
        "weather": ["Штормовое предупреждение {city_in}: ожидается до {n} миллиметров осадков",
                    "{city_in} возвращается жара до {t} градусов"],
        "culture": ["{city_in} прошёл фестиваль джаза, выступили {n} групп",
                    "Музей {city_in} вновь открыл галерею икон"],
        "sport": ["Футбольный клуб {city_gen} вышел в полуфинал кубка",
                  "Марафон {city_in} собрал рекордное число участников"],
        "economy": ["Экспорт зерна через порты Одессы вырос на {n} процентов",
                    "Сеть пекарен открыла {n} новых магазинов {city_in}"],
    },
}

# --- sentences --------------------------------------------------------------------------------------

SENTENCES = {
    "en": {
        "topic": [
            "According to the regional administration, {n} children were taken from occupied {town} to Russia in the past {m} weeks.",
            "The children had been sent to a so-called health improvement camp in Russia and were not allowed to return home.",
            "Relatives told investigators that the occupation authorities collected the children from a boarding school in {town} {weekday}.",
            "Prosecutors opened a criminal case over the forcible transfer of children from the occupied territory.",
            "Volunteers documented {m} cases in which deported children were given Russian citizenship.",
            "Of the children deported from occupied {town}, {m} have been returned to Ukraine so far, {name} said.",
            "The International Criminal Court issued arrest warrants in 2023 over the unlawful deportation of Ukrainian children.",
            "Several of the children were later placed with Russian families, the ombudsman's office said.",
            "Parents who travelled to Russia to bring their children back described weeks of checks at the border.",
            "The group included {m} teenagers from an orphanage in {town}.",
            "The children were returned to Ukraine with the mediation of Qatar.",
            "The national register lists more than {n} thousand children deported to Russia since 2022.",
        ],
        "city": [
            "The city council of {city} approved a budget of {n} million hryvnias for road repairs.",
            "Trams on {m} routes will run more often from next week.",
            "The mayor promised to finish the works before the end of {month}.",
            "Residents can comment on the plans at {m} public hearings.",
            "Contractors will start with the busiest streets, the council said.",
            "Parking on the central square will be free at weekends during the repairs.",
        ],
        "weather": [
            "Forecasters expect up to {n} millimetres of rain in {city} {weekday}.",
            "Wind gusts may reach {m} metres per second in the afternoon.",
            "The weather service advised drivers to avoid low-lying roads.",
            "Temperatures will rise to {t} degrees by the end of the week.",
            "Farmers in the region welcomed the rain after {m} dry weeks.",
        ],
        "culture": [
            "This year the festival in {city} drew {n} bands from {m} countries.",
            "Tickets for the final concert sold out within {m} hours.",
            "During the winter closure the museum restored {n} paintings.",
            "The organisers will give part of the proceeds to the city library.",
            "The programme also includes open-air film screenings on the embankment.",
        ],
        "sport": [
            "The home side scored twice in the second half in front of {n} hundred spectators.",
            "The coach said the team would rest before the away match {weekday}.",
            "{m} runners finished the race in under three hours.",
            "The club's academy opened a new training ground on the outskirts of {city}.",
        ],
        "economy": [
            "Exports rose by {n} per cent compared with the same month last year.",
            "The company plans to hire {m} more staff by the autumn.",
            "Analysts attribute this to lower logistics costs.",
            "The national bank left its key rate unchanged.",
            "Small businesses in {city} can apply for grants of up to {n} thousand hryvnias.",
        ],
        "neutral": [
            "The statement was published on the official website {weekday}.",
            "More details are expected at the end of the week.",
            "The press service had not answered a request for comment by the time of publication.",
            "The news was shared by several regional outlets.",
            "Photos from the event were posted on social media.",
            "The figures could not be independently verified.",
        ],
    },
    "uk": {
        "topic": [
            "За даними обласної адміністрації, за останні {m} тижнів з окупованого {town_gen} до Росії вивезли {n} дітей.",
            "Дітей відправили до так званого оздоровчого табору в Росії і не дозволили повернутися додому.",
            "Родичі розповіли слідчим, що окупаційна влада забрала дітей з інтернату {town_in} {weekday}.",
            "Прокуратура відкрила кримінальне провадження щодо примусового переміщення дітей з окупованої території.",
            "Волонтери задокументували {m} випадків, коли депортованим дітям надали російське громадянство.",
            "З дітей, депортованих з окупованого {town_gen}, в Україну вже повернули {m}, каже {name}.",
            "Міжнародний кримінальний суд видав ордери на арешт у 2023 році через незаконну депортацію українських дітей.",
            "Частину дітей згодом передали в російські родини, повідомили в офісі омбудсмана.",
            "Батьки, які їздили до Росії по своїх дітей, розповіли про тижні перевірок на кордоні.",
            "До групи входили {m} підлітків з дитячого будинку {town_in}.",
            "Дітей повернули в Україну за посередництва Катару.",
            "Національний реєстр налічує понад {n} тисяч дітей, депортованих до Росії з 2022 року.",
        ],
        "city": [
            "Міська рада {city_gen} затвердила {n} мільйонів гривень на ремонт доріг.",
            "Трамваї на {m} маршрутах курсуватимуть частіше з наступного тижня.",
            "Міський голова пообіцяв завершити роботи до кінця {month}.",
            "Мешканці можуть висловити зауваження на {m} громадських слуханнях.",
            "Підрядники почнуть з найзавантаженіших вулиць, повідомили в міськраді.",
            "Під час ремонту паркування на центральній площі у вихідні буде безкоштовним.",
        ],
        "weather": [
            "Синоптики прогнозують до {n} міліметрів дощу {city_in} {weekday}.",
            "Пориви вітру вдень можуть сягати {m} метрів за секунду.",
            "Гідрометцентр радить водіям уникати низинних доріг.",
            "До кінця тижня температура підніметься до {t} градусів.",
            "Аграрії області зраділи дощу після {m} посушливих тижнів.",
        ],
        "culture": [
            "Цього року на фестиваль {city_in} приїхали {n} гуртів з {m} країн.",
            "Квитки на фінальний концерт розкупили за {m} годин.",
            "Під час зимової перерви музей відреставрував {n} картин.",
            "Частину виручки організатори передадуть міській бібліотеці.",
            "У програмі також покази кіно просто неба на набережній.",
        ],
        "sport": [
            "Господарі забили двічі у другому таймі на очах у {n} сотень глядачів.",
            "Тренер сказав, що команда відпочине перед виїзним матчем {weekday}.",
            "{m} бігунів фінішували швидше ніж за три години.",
            "Академія клубу відкрила нову тренувальну базу на околиці {city_gen}.",
        ],
        "economy": [
            "Експорт зріс на {n} відсотків порівняно з тим самим місяцем минулого року.",
            "До осені компанія планує найняти ще {m} працівників.",
            "Аналітики пояснюють це зниженням витрат на логістику.",
            "Національний банк залишив облікову ставку без змін.",
            "Малий бізнес {city_in} може отримати гранти до {n} тисяч гривень.",
        ],
        "neutral": [
            "Заяву оприлюднили на офіційному сайті {weekday}.",
            "Більше подробиць очікують наприкінці тижня.",
            "На момент публікації пресслужба не відповіла на запит.",
            "Новину поширили кілька регіональних видань.",
            "Фото з події опублікували в соцмережах.",
            "Ці дані не вдалося перевірити незалежно.",
        ],
    },
    "ru": {
        "topic": [
            "По данным областной администрации, за последние {m} недель из оккупированного {town_gen} в Россию вывезли {n} детей.",
            "Детей отправили в так называемый оздоровительный лагерь в России и не позволили вернуться домой.",
            "Родственники рассказали следователям, что оккупационные власти забрали детей из интерната {town_in} {weekday}.",
            "Прокуратура возбудила уголовное дело о принудительном перемещении детей с оккупированной территории.",
            "Волонтёры задокументировали {m} случаев, когда депортированным детям выдали российское гражданство.",
            "Из детей, депортированных из оккупированного {town_gen}, в Украину уже вернули {m}, говорит {name}.",
            "Международный уголовный суд выдал ордера на арест в 2023 году за незаконную депортацию украинских детей.",
            "Часть детей позже передали в российские семьи, сообщили в офисе омбудсмена.",
            "Родители, ездившие в Россию за своими детьми, рассказали о неделях проверок на границе.",
            "В группу входили {m} подростков из детского дома {town_in}.",
            "Детей вернули в Украину при посредничестве Катара.",
            "Национальный реестр насчитывает более {n} тысяч детей, депортированных в Россию с 2022 года.",
        ],
        "city": [
            "Городской совет {city_gen} утвердил {n} миллионов гривен на ремонт дорог.",
            "Трамваи на {m} маршрутах будут ходить чаще со следующей недели.",
            "Мэр пообещал завершить работы до конца {month}.",
            "Жители могут высказать замечания на {m} общественных слушаниях.",
            "Подрядчики начнут с самых загруженных улиц, сообщили в горсовете.",
            "Во время ремонта парковка на центральной площади по выходным будет бесплатной.",
        ],
        "weather": [
            "Синоптики прогнозируют до {n} миллиметров дождя {city_in} {weekday}.",
            "Порывы ветра днём могут достигать {m} метров в секунду.",
            "Гидрометцентр советует водителям избегать низинных дорог.",
            "К концу недели температура поднимется до {t} градусов.",
            "Аграрии области обрадовались дождю после {m} засушливых недель.",
        ],
        "culture": [
            "В этом году на фестиваль {city_in} приехали {n} групп из {m} стран.",
            "Билеты на финальный концерт раскупили за {m} часов.",
            "За время зимнего перерыва музей отреставрировал {n} картин.",
            "Часть выручки организаторы передадут городской библиотеке.",
            "В программе также показы кино под открытым небом на набережной.",
        ],
        "sport": [
            "Хозяева забили дважды во втором тайме на глазах у {n} сотен зрителей.",
            "Тренер сказал, что команда отдохнёт перед выездным матчем {weekday}.",
            "{m} бегунов финишировали быстрее чем за три часа.",
            "Академия клуба открыла новую тренировочную базу на окраине {city_gen}.",
        ],
        "economy": [
            "Экспорт вырос на {n} процентов по сравнению с тем же месяцем прошлого года.",
            "К осени компания планирует нанять ещё {m} сотрудников.",
            "Аналитики объясняют это снижением расходов на логистику.",
            "Национальный банк оставил учётную ставку без изменений.",
            "Малый бизнес {city_in} может получить гранты до {n} тысяч гривен.",
        ],
        "neutral": [
            "Заявление опубликовали на официальном сайте {weekday}.",
            "Больше подробностей ожидают в конце недели.",
            "На момент публикации пресс-служба не ответила на запрос.",
            "Новость распространили несколько региональных изданий.",
            "Фото с мероприятия опубликовали в соцсетях.",
            "Эти данные не удалось независимо проверить.",
        ],
    },
}

# A quoted official, from parts: "{name}, {role} {institution}, said that {claim}."
QUOTE = {
    "en": "{name}, {role} at {institution}, said {claim}.",
    "uk": "{name}, {role} {institution}, каже, що {claim}.",
    "ru": "{name}, {role} {institution}, говорит, что {claim}.",
}
ROLES = {
    "en": ["a spokesperson", "the deputy head", "a senior analyst", "the press secretary", "an adviser", "the director"],
    "uk": ["речник", "заступник голови", "аналітик", "прессекретар", "радник", "директор"],
    "ru": ["представитель", "заместитель главы", "аналитик", "пресс-секретарь", "советник", "директор"],
}
INSTITUTIONS = {
    "en": ["the regional administration", "the city council", "the ministry of economy", "the weather service",
           "the chamber of commerce", "the cultural foundation", "the football federation", "the transport department",
           "the ombudsman's office"],
    "uk": ["обласної адміністрації", "міської ради", "міністерства економіки", "гідрометцентру",
           "торгово-промислової палати", "культурного фонду", "футбольної федерації", "департаменту транспорту",
           "офісу омбудсмана"],
    "ru": ["областной администрации", "городского совета", "министерства экономики", "гидрометцентра",
           "торгово-промышленной палаты", "культурного фонда", "футбольной федерации", "департамента транспорта",
           "офиса омбудсмена"],
}
QUOTED_BY = {"topic": [0, 8], "city": [1, 7], "weather": [3, 0], "culture": [5, 1], "sport": [6, 1],
             "economy": [2, 4]}   # which institutions speak on a subject
CLAIMS = {
    "en": ["the decision had been discussed for months", "the work would take several weeks",
           "more information would be published soon", "residents had long asked for the change",
           "the plan was realistic", "the figures were better than expected", "the schedule could still change",
           "the budget covered the costs", "it was too early to draw conclusions",
           "the next steps would be agreed in the coming days"],
    "uk": ["рішення обговорювали кілька місяців", "роботи триватимуть кілька тижнів",
           "більше інформації оприлюднять найближчим часом", "мешканці давно просили про ці зміни",
           "план цілком реалістичний", "показники виявилися кращими, ніж очікували", "графік ще може змінитися",
           "витрати покриває бюджет", "робити висновки поки зарано", "наступні кроки погодять найближчими днями"],
    "ru": ["решение обсуждали несколько месяцев", "работы займут несколько недель",
           "больше информации опубликуют в ближайшее время", "жители давно просили об этих изменениях",
           "план вполне реалистичен", "показатели оказались лучше ожиданий", "график ещё может измениться",
           "расходы покрывает бюджет", "делать выводы пока рано", "следующие шаги согласуют в ближайшие дни"],
}


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class NewsItem:
    uid: str
    lang: str
    on_topic: bool
    title: str
    paragraphs: tuple[str, ...]       # the article's main text
    published: datetime
    path: str                         # where its page is on the site
    summary: str = ""                 # what the feed carries; "" → the whole text
    author: str = ""

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    def teaser(self, words: int = 35) -> str:
        return " ".join(self.text.split()[:words]) + "…"

    def feed_html(self) -> str:
        if self.summary:
            return html.escape(self.summary)
        return "".join(f"<p>{html.escape(p)}</p>" for p in self.paragraphs)


class NewsWriter:
    def __init__(self, seed: int = 1):
        self.seed = seed

    def rng(self, uid: str) -> random.Random:
        return random.Random(f"{self.seed}/{uid}")

    def facts(self, rng: random.Random, lang: str) -> dict[str, str]:
        town, city = rng.choice(TOWNS), rng.choice(CITIES)
        at = 1 if lang == "uk" else 3
        return {
            "town": town[0], "town_gen": town[at], "town_in": town[at + 1],
            "city": city[0], "city_gen": city[at], "city_in": city[at + 1],
            "n": str(rng.choice(COUNTS)), "m": str(rng.choice(COUNTS)), "t": str(rng.randint(25, 30)),
            "weekday": rng.choice(WEEKDAYS[lang]), "month": rng.choice(MONTHS_GEN[lang]),
            "name": rng.choice(NAMES[lang]),
        }

    def headline(self, rng: random.Random, lang: str, on_topic: bool, facts: dict | None = None) -> str:
        subject = "topic" if on_topic else rng.choice(OFF_SUBJECTS)
        return _capital(rng.choice(TITLES[lang][subject]).format(**(facts or self.facts(rng, lang))))

    def sentences(self, rng: random.Random, lang: str, subject: str, facts: dict) -> list[str]:
        """The lead, then the subject's other sentences, a quote and neutral lines, shuffled."""
        own = rng.sample(SENTENCES[lang][subject], len(SENTENCES[lang][subject]))
        names = rng.sample(NAMES[lang], 2)
        quotes = [QUOTE[lang].format(name=name, role=rng.choice(ROLES[lang]), claim=claim,
                                     institution=INSTITUTIONS[lang][rng.choice(QUOTED_BY[subject])])
                  for name, claim in zip(names, rng.sample(CLAIMS[lang], 2))]
        rest = own[1:] + quotes + rng.sample(SENTENCES[lang]["neutral"], 4)
        rng.shuffle(rest)
        return [_capital(s.format(**facts)) for s in [own[0], *rest]]

    def item(self, uid: str, lang: str, on_topic: bool, *, path: str, min_bytes: int = 900,
             published: datetime | None = None, teaser: bool = False) -> NewsItem:
        """An item whose text reaches min_bytes of UTF-8 (as far as its sentences go); with
        teaser=True the feed carries only its first 35 words."""
        rng = self.rng(uid)
        facts = self.facts(rng, lang)
        subject = "topic" if on_topic else rng.choice(OFF_SUBJECTS)
        title = _capital(rng.choice(TITLES[lang][subject]).format(**facts))
        paragraphs, size, pending = [], 0, self.sentences(rng, lang, subject, facts)
        while pending and size < min_bytes:
            take = 1 if len(paragraphs) == 0 or rng.random() < 0.4 else 2
            paragraph = " ".join(pending[:take])
            pending = pending[take:]
            paragraphs.append(paragraph)
            size += len(paragraph.encode("utf-8"))
        when = published or EPOCH + timedelta(minutes=rng.randrange(60 * 24 * 30))
        made = NewsItem(uid, lang, on_topic, title, tuple(paragraphs), when, path, author=facts["name"])
        return replace(made, summary=made.teaser()) if teaser else made


# --- feeds ------------------------------------------------------------------------------------------

def render_feed(fmt: str, name: str, items: list[NewsItem], base: str, lang: str = "en") -> bytes:
    """One feed document, newest item first; item links are base + item.path."""
    e = html.escape
    ordered = sorted(items, key=lambda i: (i.published, i.uid), reverse=True)
    if fmt == "rss2":
        body = "".join(
            f"<item><title>{e(i.title)}</title><link>{base}{i.path}</link>"
            f'<guid isPermaLink="false">{e(i.uid)}</guid><pubDate>{format_datetime(i.published)}</pubDate>'
            f"<dc:creator>{e(i.author)}</dc:creator><description><![CDATA[{i.feed_html()}]]></description></item>\n"
            for i in ordered)
        text = ('<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f"<channel><title>{e(name)}</title><link>{base}/</link><description>Bench feed {e(name)}</description>"
                f"<language>{lang}</language>\n{body}</channel></rss>\n")
    elif fmt == "atom":
        body = "".join(
            f"<entry><title>{e(i.title)}</title><id>urn:bench:{e(i.uid)}</id>"
            f'<link rel="alternate" href="{base}{i.path}"/><updated>{i.published.isoformat()}</updated>'
            f"<author><name>{e(i.author)}</name></author>"
            f'<summary type="html">{e(i.feed_html())}</summary></entry>\n' for i in ordered)
        updated = ordered[0].published.isoformat() if ordered else EPOCH.isoformat()
        text = (f'<?xml version="1.0" encoding="utf-8"?>\n<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang}">'
                f"<title>{e(name)}</title><id>urn:bench:{e(name)}</id><updated>{updated}</updated>\n{body}</feed>\n")
    elif fmt == "rss1":
        seq = "".join(f'<rdf:li rdf:resource="{base}{i.path}"/>' for i in ordered)
        body = "".join(
            f'<item rdf:about="{base}{i.path}"><title>{e(i.title)}</title><link>{base}{i.path}</link>'
            f"<description>{e(i.feed_html())}</description><dc:date>{i.published.isoformat()}</dc:date></item>\n"
            for i in ordered)
        text = ('<?xml version="1.0" encoding="utf-8"?>\n<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"'
                ' xmlns="http://purl.org/rss/1.0/" xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f'<channel rdf:about="{base}/{e(name)}"><title>{e(name)}</title><link>{base}/</link>'
                f"<description>Bench feed {e(name)}</description><items><rdf:Seq>{seq}</rdf:Seq></items></channel>\n"
                f"{body}</rdf:RDF>\n")
    else:
        raise ValueError(f"unknown feed format {fmt!r}")
    return text.encode("utf-8")


def simple_page(item: NewsItem) -> bytes:
    e = html.escape
    paragraphs = "".join(f"<p>{e(p)}</p>" for p in item.paragraphs)
    return (f"<!doctype html><html lang='{item.lang}'><head><meta charset='utf-8'><title>{e(item.title)}</title>"
            f"</head><body><article><h1>{e(item.title)}</h1>{paragraphs}</article></body></html>").encode("utf-8")


# --- a news site's article page ---------------------------------------------------------------------

CHROME = {
    "en": {
        "sections": ["News", "Politics", "Economy", "World", "Culture", "Sport", "Science", "Health", "Opinion",
                     "Video", "Photo", "Podcasts", "Regions", "Weather"],
        "subsections": ["Latest", "Analysis", "Interviews", "Explainers", "Live", "Archive"],
        "most_read": "Most read", "latest": "Latest news", "related": "Related", "read_also": "Read also",
        "comments": "Comments", "reply": "Reply", "ago": "{h} hours ago", "by": "By",
        "newsletter": "Get the morning briefing in your inbox", "subscribe": "Subscribe", "email": "Your e-mail",
        "cookie": "We use cookies to measure traffic and to remember your settings. You can change them at any time.",
        "accept": "Accept", "settings": "Settings", "tags": "Tags", "share": "Share", "photo": "Photo",
        "footer": ["About us", "Editorial policy", "Contacts", "Advertising", "Careers", "Privacy policy",
                   "Terms of use", "Cookie settings", "RSS", "Newsletters", "Corrections", "Archive"],
        "legal": ("All materials on this site are protected by copyright. Quoting is allowed with a hyperlink to "
                  "the source not closed to search engines. The editors are not responsible for the content of "
                  "advertising materials and of readers' comments."),
        "address": "Editorial office: 14 Khreshchatyk Street, office 5, Kyiv, 01001. Phone: +380 44 000 00 00.",
        "comment_lines": ["Thank you for the article.", "Who checked these figures?", "Great to see this finally covered.",
                          "The same happened in our town last year.", "I read about this on another site this morning.",
                          "Please write more about the regions.", "Every deported child must be brought back from Russia.",
                          "Why is nobody talking about the prices?", "A good summary, but the headline is misleading.",
                          "My neighbour says it was different.", "The photo is from another event.",
                          "Ukrainian children abducted by Russia need to come home."],
        "nicks": ["oksana_k", "pavlo1987", "reader22", "m.horbach", "kyivite", "sunny_day", "old_tram", "nadiya.v"],
    },
    "uk": {
        "sections": ["Новини", "Політика", "Економіка", "Світ", "Культура", "Спорт", "Наука", "Здоров'я", "Думки",
                     "Відео", "Фото", "Подкасти", "Регіони", "Погода"],
        "subsections": ["Останнє", "Аналітика", "Інтерв'ю", "Пояснення", "Наживо", "Архів"],
        "most_read": "Найпопулярніше", "latest": "Останні новини", "related": "Схожі матеріали",
        "read_also": "Читайте також", "comments": "Коментарі", "reply": "Відповісти", "ago": "{h} год тому",
        "by": "Автор:", "newsletter": "Ранковий дайджест у вашій пошті", "subscribe": "Підписатися",
        "email": "Ваш e-mail",
        "cookie": "Ми використовуємо файли cookie, щоб вимірювати відвідуваність і пам'ятати ваші налаштування.",
        "accept": "Погоджуюсь", "settings": "Налаштування", "tags": "Теги", "share": "Поділитися", "photo": "Фото",
        "footer": ["Про нас", "Редакційна політика", "Контакти", "Реклама", "Вакансії", "Політика конфіденційності",
                   "Умови використання", "Налаштування cookie", "RSS", "Розсилки", "Виправлення", "Архів"],
        "legal": ("Усі матеріали сайту захищені авторським правом. Цитування дозволене за умови гіперпосилання на "
                  "джерело, відкритого для пошукових систем. Редакція не відповідає за зміст рекламних матеріалів "
                  "і коментарів читачів."),
        "address": "Адреса редакції: вул. Хрещатик, 14, офіс 5, Київ, 01001. Телефон: +380 44 000 00 00.",
        "comment_lines": ["Дякую за статтю.", "Хто перевіряв ці цифри?", "Нарешті про це написали.",
                          "У нашому місті таке було торік.", "Читав про це зранку на іншому сайті.",
                          "Пишіть більше про регіони.", "Кожну депортовану дитину треба повернути з Росії.",
                          "Чому ніхто не говорить про ціни?", "Гарний огляд, але заголовок вводить в оману.",
                          "Сусід каже, що все було інакше.", "Фото з іншої події.",
                          "Українських дітей, викрадених Росією, треба повернути додому."],
        "nicks": ["оксана_к", "павло1987", "читач22", "м.горбач", "киянин", "сонячний", "старий_трамвай", "надія.в"],
    },
    "ru": {
        "sections": ["Новости", "Политика", "Экономика", "Мир", "Культура", "Спорт", "Наука", "Здоровье", "Мнения",
                     "Видео", "Фото", "Подкасты", "Регионы", "Погода"],
        "subsections": ["Последнее", "Аналитика", "Интервью", "Объяснения", "Онлайн", "Архив"],
        "most_read": "Самое читаемое", "latest": "Последние новости", "related": "Похожие материалы",
        "read_also": "Читайте также", "comments": "Комментарии", "reply": "Ответить", "ago": "{h} ч назад",
        "by": "Автор:", "newsletter": "Утренний дайджест на вашу почту", "subscribe": "Подписаться",
        "email": "Ваш e-mail",
        "cookie": "Мы используем файлы cookie, чтобы измерять посещаемость и запоминать ваши настройки.",
        "accept": "Согласен", "settings": "Настройки", "tags": "Теги", "share": "Поделиться", "photo": "Фото",
        "footer": ["О нас", "Редакционная политика", "Контакты", "Реклама", "Вакансии", "Политика конфиденциальности",
                   "Условия использования", "Настройки cookie", "RSS", "Рассылки", "Исправления", "Архив"],
        "legal": ("Все материалы сайта защищены авторским правом. Цитирование разрешено при условии гиперссылки на "
                  "источник, открытой для поисковых систем. Редакция не несёт ответственности за содержание "
                  "рекламных материалов и комментариев читателей."),
        "address": "Адрес редакции: ул. Крещатик, 14, офис 5, Киев, 01001. Телефон: +380 44 000 00 00.",
        "comment_lines": ["Спасибо за статью.", "Кто проверял эти цифры?", "Наконец-то об этом написали.",
                          "В нашем городе такое было в прошлом году.", "Читал об этом утром на другом сайте.",
                          "Пишите больше о регионах.", "Каждого депортированного ребёнка нужно вернуть из России.",
                          "Почему никто не говорит о ценах?", "Хороший обзор, но заголовок вводит в заблуждение.",
                          "Сосед говорит, что всё было иначе.", "Фото с другого события.",
                          "Украинских детей, похищенных Россией, нужно вернуть домой."],
        "nicks": ["оксана_к", "павел1987", "читатель22", "м.горбач", "киевлянин", "солнечный", "старый_трамвай",
                  "надежда.в"],
    },
}

_CSS = "".join(
    f".{name}{{{rules}}}\n" for name, rules in [
        ("site-header", "position:sticky;top:0;z-index:50;background:#fff;border-bottom:1px solid #e5e5e5"),
        ("topbar", "display:flex;justify-content:space-between;font-size:13px;padding:4px 16px;color:#555"),
        ("logo", "font:700 28px/1 Georgia,serif;letter-spacing:-.5px;color:#111;text-decoration:none"),
        ("main-nav", "display:flex;flex-wrap:wrap;gap:0 18px;padding:8px 16px;font-weight:600"),
        ("main-nav .submenu", "display:none;position:absolute;background:#fff;box-shadow:0 4px 12px rgba(0,0,0,.12)"),
        ("main-nav li:hover .submenu", "display:block"),
        ("breadcrumbs", "font-size:13px;color:#777;margin:12px 0"),
        ("layout", "display:grid;grid-template-columns:minmax(0,1fr) 320px;gap:32px;max-width:1200px;margin:0 auto"),
        ("post h1", "font:700 34px/1.2 Georgia,serif;margin:0 0 12px"),
        ("post-meta", "font-size:14px;color:#666;margin-bottom:16px"),
        ("post-body p", "font-size:18px;line-height:1.6;margin:0 0 1em"),
        ("read-also", "border-left:4px solid #0057b8;padding:8px 12px;background:#f4f7fb;margin:16px 0"),
        ("tags a", "display:inline-block;padding:2px 8px;border:1px solid #ccc;border-radius:12px;margin:0 6px 6px 0"),
        ("share button", "border:0;background:#eee;border-radius:50%;width:36px;height:36px;margin-right:6px"),
        ("sidebar section", "margin-bottom:28px"),
        ("sidebar h2", "font-size:15px;text-transform:uppercase;letter-spacing:.06em;border-bottom:2px solid #111"),
        ("most-read ol", "counter-reset:rank;padding:0;list-style:none"),
        ("most-read li", "counter-increment:rank;padding:8px 0;border-bottom:1px solid #eee"),
        ("latest time", "color:#0057b8;font-weight:700;margin-right:6px"),
        ("related-grid", "display:grid;grid-template-columns:repeat(3,1fr);gap:16px"),
        ("card img", "width:100%;aspect-ratio:16/9;object-fit:cover;background:#ddd"),
        ("comments .comment", "padding:12px 0;border-bottom:1px solid #eee"),
        ("comment .who", "font-weight:700;margin-right:8px"),
        ("comment .when", "color:#888;font-size:13px"),
        ("newsletter form", "display:flex;gap:8px"),
        ("cookie-banner", "position:fixed;bottom:0;left:0;right:0;background:#222;color:#fff;padding:12px 16px"),
        ("site-footer", "background:#111;color:#bbb;padding:32px 16px;margin-top:48px;font-size:14px"),
        ("footer-cols", "display:grid;grid-template-columns:repeat(4,1fr);gap:24px"),
        ("ad-slot", "min-height:250px;background:repeating-linear-gradient(45deg,#fafafa,#fafafa 10px,#f2f2f2 10px,#f2f2f2 20px)"),
    ])


def _link_list(items: list[tuple[str, str]], cls: str = "") -> str:
    e = html.escape
    return f"<ul class='{cls}'>" + "".join(f"<li><a href='{e(href)}'>{e(text)}</a></li>" for href, text in items) + "</ul>"


def _icons(rng: random.Random) -> str:
    """An inline SVG sprite of the site's icons, as modern news sites embed them."""
    def path() -> str:
        x, y = rng.uniform(2, 22), rng.uniform(2, 22)
        steps = "".join(f"c{rng.uniform(-6, 6):.2f} {rng.uniform(-6, 6):.2f} {rng.uniform(-6, 6):.2f} "
                        f"{rng.uniform(-6, 6):.2f} {rng.uniform(-6, 6):.2f} {rng.uniform(-6, 6):.2f}"
                        for _ in range(rng.randint(8, 14)))
        return f"M{x:.2f} {y:.2f}{steps}z"
    symbols = "".join(f"<symbol id='i-{name}' viewBox='0 0 24 24'><path d='{path()}'/><path d='{path()}'/></symbol>"
                      for name in ("logo", "search", "menu", "user", "facebook", "x", "telegram", "whatsapp",
                                   "mail", "print", "comment", "clock", "arrow", "close", "play", "camera"))
    return f"<svg xmlns='http://www.w3.org/2000/svg' style='display:none'>{symbols}</svg>"


def _image(rng: random.Random, alt: str, cls: str = "") -> str:
    number = rng.randrange(10**6)
    srcset = ", ".join(f"/img/{number}-{w}.webp {w}w" for w in (320, 480, 640, 960, 1280, 1920))
    return (f"<img class='{cls}' src='/img/{number}-960.jpg' srcset='{srcset}' "
            f"sizes='(max-width: 768px) 100vw, 760px' alt='{html.escape(alt)}' loading='lazy' decoding='async'>")


def article_page(item: NewsItem, outlet: str, seed: int = 1) -> bytes:
    """The item's page as a news site serves it: about 50 KB, the main text a small part of it."""
    e, c = html.escape, CHROME[item.lang]
    rng = random.Random(f"page/{seed}/{item.uid}")
    writer = NewsWriter(seed)
    other = [(f"/news/{rng.randrange(10**6)}.html", writer.headline(rng, item.lang, rng.random() < 0.3))
             for _ in range(55)]
    nav = "".join(
        f"<li><a href='/{i}/'>{e(section)}</a>"
        + _link_list([(f"/{i}/{j}/", f"{section}: {sub}") for j, sub in enumerate(c["subsections"])], "submenu")
        + "</li>" for i, section in enumerate(c["sections"]))
    header = (f"<header class='site-header'><div class='topbar'><span>{item.published:%d.%m.%Y}</span>"
              f"<span><a href='/login'>Login</a> · <a href='/search'>Search</a></span></div>"
              f"<a class='logo' href='/'>{e(outlet)}</a><nav class='main-nav'><ul>{nav}</ul></nav></header>")
    crumbs = (f"<div class='breadcrumbs'><a href='/'>{e(outlet)}</a> › <a href='/0/'>{e(c['sections'][0])}</a> › "
              f"{e(item.title)}</div>")
    body_paragraphs = [f"<p>{e(p)}</p>" for p in item.paragraphs]
    read_also = (f"<aside class='read-also'><b>{e(c['read_also'])}:</b> "
                 f"<a href='{e(other[0][0])}'>{e(other[0][1])}</a></aside>")
    body_paragraphs.insert(min(2, len(body_paragraphs)), read_also)
    tags = "".join(f"<a href='/tag/{i}'>{e(s)}</a>" for i, s in enumerate(rng.sample(c["sections"], 4)))
    article = (f"<article class='post'><header><h1>{e(item.title)}</h1><div class='post-meta'>"
               f"<span class='author'>{e(c['by'])} {e(item.author)}</span> · "
               f"<time datetime='{item.published.isoformat()}'>{item.published:%d.%m.%Y %H:%M}</time></div></header>"
               f"<figure>{_image(rng, item.title, 'lead-img')}"
               f"<figcaption>{e(c['photo'])}: {e(outlet)}</figcaption></figure>"
               f"<div class='post-body'>{''.join(body_paragraphs)}</div>"
               f"<div class='tags'><b>{e(c['tags'])}:</b> {tags}</div>"
               f"<div class='share'><b>{e(c['share'])}</b>" + "".join(
                   f"<button aria-label='{n}'><svg><use href='#i-{n}'/></svg></button>"
                   for n in ("facebook", "x", "telegram", "whatsapp", "mail", "print")) + "</div>"
               "</article>")
    most_read = "".join(f"<li><a href='{e(h)}'>{e(t)}</a></li>" for h, t in other[1:11])
    latest = "".join(f"<li data-id='{rng.randrange(10**7)}'><time>{rng.randrange(24):02d}:{rng.randrange(60):02d}"
                     f"</time><a href='{e(h)}' data-track='latest'>{e(t)}</a></li>" for h, t in other[11:41])
    sidebar = (f"<aside class='sidebar'><section class='most-read'><h2>{e(c['most_read'])}</h2><ol>{most_read}</ol>"
               f"</section><div class='ad-slot' data-slot='side-1'></div><section class='latest'>"
               f"<h2>{e(c['latest'])}</h2><ul>{latest}</ul></section><section class='newsletter'>"
               f"<h2>{e(c['newsletter'])}</h2><form action='/subscribe' method='post'><input type='email' "
               f"placeholder='{e(c['email'])}'><button>{e(c['subscribe'])}</button></form></section>"
               "<div class='ad-slot' data-slot='side-2'></div></aside>")
    cards = "".join(
        f"<div class='card'><a href='{e(h)}' data-track='related'>{_image(rng, t, 'card-img')}<h3>{e(t)}</h3></a>"
        f"<p>{e(_capital(rng.choice(SENTENCES[item.lang]['neutral']).format(**writer.facts(rng, item.lang))))}</p></div>"
        for h, t in other[41:53])
    related = f"<section class='related'><h2>{e(c['related'])}</h2><div class='related-grid'>{cards}</div></section>"
    comments = "".join(
        f"<div class='comment' id='c{k}'><span class='who'>{e(rng.choice(c['nicks']))}</span>"
        f"<span class='when'>{e(c['ago'].format(h=rng.randint(1, 23)))}</span>"
        f"<p>{e(' '.join(rng.sample(c['comment_lines'], rng.randint(1, 3))))}</p>"
        f"<a class='reply' href='#c{k}'><svg><use href='#i-comment'/></svg>{e(c['reply'])}</a></div>"
        for k in range(rng.randint(24, 36)))
    comments = f"<section class='comments' id='comments'><h2>{e(c['comments'])}</h2>{comments}</section>"
    columns = "".join(f"<div>{_link_list([(f'/page/{i}-{j}', t) for j, t in enumerate(c['footer'][i::4])])}</div>"
                      for i in range(4))
    footer = (f"<footer class='site-footer'><div class='footer-cols'>{columns}</div><p>{e(c['legal'])}</p>"
              f"<p>{e(c['address'])}</p><p>© 2014–2026 {e(outlet)}</p></footer>")
    cookie = (f"<div class='cookie-banner'><p>{e(c['cookie'])}</p><button>{e(c['accept'])}</button>"
              f"<button>{e(c['settings'])}</button></div>")
    ld = json.dumps({"@context": "https://schema.org", "@type": "NewsArticle", "headline": item.title,
                     "datePublished": item.published.isoformat(), "inLanguage": item.lang,
                     "author": {"@type": "Person", "name": item.author},
                     "publisher": {"@type": "Organization", "name": outlet}}, ensure_ascii=False)
    config = json.dumps({"page": {"id": item.uid, "section": c["sections"][0], "lang": item.lang},
                         "ads": [{"slot": f"side-{k}", "sizes": [[300, 250], [300, 600]], "lazy": True} for k in (1, 2)],
                         "experiments": {f"exp{k}": rng.choice(["a", "b"]) for k in range(12)},
                         "menu": [{"title": s, "href": f"/{i}/"} for i, s in enumerate(c["sections"])]},
                        ensure_ascii=False)
    analytics = ("(function(w,d){var q=w.__q=w.__q||[];function t(e,p){q.push([e,p,Date.now()])}"
                 "w.track=t;t('view',{path:location.pathname,ref:d.referrer});"
                 "d.addEventListener('scroll',function(){var s=Math.round(100*w.scrollY/(d.body.scrollHeight||1));"
                 "if(s>=75&&!w.__s75){w.__s75=1;t('scroll75',{})}},{passive:true});"
                 "var s=d.createElement('script');s.async=1;s.src='/static/metrics.js';d.head.appendChild(s)})(window,document);")
    return (f"<!doctype html><html lang='{item.lang}'><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><title>{e(item.title)} — {e(outlet)}</title>"
            f"<meta name='description' content='{e(item.teaser(25))}'><meta property='og:title' content='{e(item.title)}'>"
            f"<meta property='og:type' content='article'><meta name='author' content='{e(item.author)}'>"
            f"<script type='application/ld+json'>{ld}</script><style>{_CSS}</style></head><body>"
            f"{_icons(rng)}{header}{crumbs}<div class='layout'><main>{article}{related}{comments}</main>{sidebar}</div>"
            f"{footer}{cookie}<script>window.__CONFIG__={config};</script><script>{analytics}</script>"
            "</body></html>").encode("utf-8")


def headline_variants(lang: str, on_topic: bool) -> list[str]:
    """Every title template of the language filled with every town (on topic) or city (off topic):
    what a bench checks against the topic before trusting its generator's labels."""
    writer, out = NewsWriter(0), []
    subjects = ["topic"] if on_topic else list(OFF_SUBJECTS)
    for subject in subjects:
        for template in TITLES[lang][subject]:
            for place in range(len(TOWNS)):
                facts = writer.facts(random.Random(place), lang)
                at = 1 if lang == "uk" else 3
                town, city = TOWNS[place], CITIES[place % len(CITIES)]
                facts.update(town=town[0], town_gen=town[at], town_in=town[at + 1],
                             city=city[0], city_gen=city[at], city_in=city[at + 1])
                out.append(_capital(template.format(**facts)))
    return out
