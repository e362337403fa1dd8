//! Fake customers: the rows of the seed's `make_fake_data.py`, generated cheaply.
//!
//! The seed calls Python Faker per field, which costs tens of microseconds per row.
//! Here every field is assembled from static word lists (the `fake` crate's locale
//! data plus a few Brazilian lists of our own) with a small, fast RNG and no
//! formatting machinery, so a row costs well under a microsecond and PostgreSQL,
//! not the generator, is the bottleneck of `creek fake`.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Local, NaiveDate, NaiveDateTime, TimeDelta, Timelike, Utc};
use fake::locales::{Data, EN, PT_BR};
use rand::rngs::SmallRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use crate::names::{
    Sexo, BR_FIRST_NAMES_FEMALE, BR_FIRST_NAMES_MALE, BR_PREFIXES_FEMALE, BR_PREFIXES_MALE,
    EN_FIRST_NAMES_FEMALE, EN_FIRST_NAMES_MALE, EN_SUFFIXES_FEMALE, EN_SUFFIXES_MALE,
    EN_TITLES_FEMALE, EN_TITLES_MALE,
};

/// Which Faker locale the rows imitate.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Locale {
    /// `en_US`, the seed's default (`Faker()`).
    #[default]
    En,
    /// `pt_BR`: Brazilian names, addresses with bairro and CEP, +55 phones, Portuguese jobs.
    PtBr,
}

impl Locale {
    /// The Faker-style tag (`en_US`, `pt_BR`).
    pub fn tag(self) -> &'static str {
        match self {
            Locale::En => "en_US",
            Locale::PtBr => "pt_BR",
        }
    }
}

impl fmt::Display for Locale {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.tag())
    }
}

impl FromStr for Locale {
    type Err = String;

    /// Accepts `en`, `en_US`, `en-US`, `pt_BR`, `pt-BR`, `pt`, `br` (any case).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().replace('-', "_").as_str() {
            "en" | "en_us" => Ok(Locale::En),
            "pt" | "pt_br" | "br" => Ok(Locale::PtBr),
            _ => Err(format!(
                "unknown locale '{s}' (available: en_US, the default, and pt_BR)"
            )),
        }
    }
}

/// One row of the seed's `customers` table, in its column order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Customer {
    /// Full name.
    pub nome: String,
    /// `"M"` or `"F"`, 50/50; the first name (and title) is one of that sex.
    pub sexo: &'static str,
    /// Postal address over two or three lines (`\n`-separated).
    pub endereco: String,
    /// Phone number in one of several formats.
    pub telefone: String,
    /// A safe address at example.org / example.com / example.net.
    pub email: String,
    /// An image URL.
    pub foto: String,
    /// Birth date, ages 0 to 115.
    pub nascimento: NaiveDate,
    /// Job title.
    pub profissao: String,
    /// Local wall-clock time when the row was generated, microsecond precision: the
    /// machine's time zone (`TZ`, else /etc/localtime), stored without a zone as the
    /// seed's `timestamp without time zone` column is.
    pub dt_update: NaiveDateTime,
}

/// Produces [`Customer`] rows for one locale. Not thread-safe by design: give each
/// producer its own generator.
pub struct CustomerGenerator {
    locale: Locale,
    rng: SmallRng,
}

impl CustomerGenerator {
    /// A generator seeded from the OS.
    pub fn new(locale: Locale) -> Self {
        Self {
            locale,
            rng: SmallRng::from_os_rng(),
        }
    }

    /// A reproducible generator (same seed, same names; `dt_update` is still the clock).
    pub fn with_seed(locale: Locale, seed: u64) -> Self {
        Self {
            locale,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    pub fn locale(&self) -> Locale {
        self.locale
    }

    /// `n` new rows. `dt_update` is stamped per row as it is generated.
    pub fn batch(&mut self, n: usize) -> Vec<Customer> {
        let clock = LocalClock::read();
        let today = clock.now().date();
        (0..n).map(|_| self.customer(&clock, today)).collect()
    }

    fn customer(&mut self, clock: &LocalClock, today: NaiveDate) -> Customer {
        // The first name (and any title) follows `sexo`, as a reader of the row expects.
        let sexo = if self.rng.random_bool(0.5) {
            Sexo::M
        } else {
            Sexo::F
        };
        let (first, last) = self.first_last(sexo);
        let nome = self.nome(sexo, first, last);
        let endereco = self.endereco();
        let telefone = self.telefone();
        let email = self.email(first, last);
        let foto = self.foto();
        let nascimento = self.nascimento(today);
        let profissao = self.profissao();
        Customer {
            nome,
            sexo: sexo.code(),
            endereco,
            telefone,
            email,
            foto,
            nascimento,
            profissao,
            dt_update: clock.now(),
        }
    }

    fn pick(&mut self, words: &'static [&'static str]) -> &'static str {
        words.choose(&mut self.rng).copied().unwrap_or("")
    }

    fn first_last(&mut self, sexo: Sexo) -> (&'static str, &'static str) {
        let firsts = first_names(self.locale, sexo);
        let lasts = match self.locale {
            Locale::En => EN::NAME_LAST_NAME,
            Locale::PtBr => PT_BR::NAME_LAST_NAME,
        };
        (self.pick(firsts), self.pick(lasts))
    }

    fn nome(&mut self, sexo: Sexo, first: &str, last: &str) -> String {
        let mut s = String::with_capacity(32);
        let roll = self.rng.random_range(0..100u32);
        match self.locale {
            Locale::En => {
                // Faker's en_US name(): mostly "First Last", sometimes a title or suffix.
                let (titles, suffixes) = match sexo {
                    Sexo::M => (EN_TITLES_MALE, EN_SUFFIXES_MALE),
                    Sexo::F => (EN_TITLES_FEMALE, EN_SUFFIXES_FEMALE),
                };
                if roll < 5 {
                    push_words(&mut s, &[self.pick(titles), first, last]);
                } else if roll < 10 {
                    push_words(&mut s, &[first, last, self.pick(suffixes)]);
                } else {
                    push_words(&mut s, &[first, last]);
                }
            }
            Locale::PtBr => {
                // Brazilians usually carry two surnames, sometimes joined by "da"/"dos".
                if roll < 5 {
                    let prefixes = match sexo {
                        Sexo::M => BR_PREFIXES_MALE,
                        Sexo::F => BR_PREFIXES_FEMALE,
                    };
                    push_words(&mut s, &[self.pick(prefixes), first, last]);
                } else if roll < 45 {
                    let middle = self.pick(PT_BR::NAME_LAST_NAME);
                    push_words(&mut s, &[first, middle, last]);
                } else if roll < 60 {
                    push_words(&mut s, &[first, self.pick(BR_PARTICLE), last]);
                } else {
                    push_words(&mut s, &[first, last]);
                }
            }
        }
        s
    }

    fn endereco(&mut self) -> String {
        let mut s = String::with_capacity(64);
        match self.locale {
            Locale::En => {
                // "1234 Smith Avenue Apt. 567\nLake Mariaville, OR 97202"
                let digits = self.rng.random_range(3..=5);
                self.push_digits(&mut s, digits);
                s.push(' ');
                let street = if self.rng.random_bool(0.5) {
                    self.pick(EN::NAME_LAST_NAME)
                } else {
                    self.pick(EN::NAME_FIRST_NAME)
                };
                push_words(&mut s, &[street, self.pick(EN::ADDRESS_STREET_SUFFIX)]);
                if self.rng.random_bool(0.4) {
                    s.push(' ');
                    s.push_str(self.pick(EN_SECONDARY));
                    s.push(' ');
                    self.push_digits(&mut s, 3);
                }
                s.push('\n');
                self.push_en_city(&mut s);
                s.push_str(", ");
                s.push_str(self.pick(EN::ADDRESS_STATE_ABBR));
                s.push(' ');
                self.push_digits(&mut s, 5);
            }
            Locale::PtBr => {
                // "Rua Souza, 123\nJardim América\n12345-678 Costa do Sul / SP"
                s.push_str(self.pick(BR_STREET_TYPE));
                s.push(' ');
                if self.rng.random_bool(0.3) {
                    s.push_str(self.pick(PT_BR::NAME_FIRST_NAME));
                    s.push(' ');
                }
                s.push_str(self.pick(PT_BR::NAME_LAST_NAME));
                s.push_str(", ");
                let digits = self.rng.random_range(1..=4);
                self.push_digits(&mut s, digits);
                s.push('\n');
                s.push_str(self.pick(BR_BAIRRO));
                s.push('\n');
                self.push_pattern(&mut s, "#####-###");
                s.push(' ');
                s.push_str(self.pick(PT_BR::NAME_LAST_NAME));
                if self.rng.random_bool(0.6) {
                    s.push(' ');
                    s.push_str(self.pick(BR_CITY_SUFFIX));
                }
                s.push_str(" / ");
                s.push_str(self.pick(PT_BR::ADDRESS_STATE_ABBR));
            }
        }
        s
    }

    fn push_en_city(&mut self, s: &mut String) {
        // The shapes of Faker's en_US city formats.
        match self.rng.random_range(0..4u32) {
            0 => push_words(
                s,
                &[
                    self.pick(EN::ADDRESS_CITY_PREFIX),
                    self.pick(EN::NAME_FIRST_NAME),
                ],
            ),
            1 => {
                push_words(
                    s,
                    &[
                        self.pick(EN::ADDRESS_CITY_PREFIX),
                        self.pick(EN::NAME_FIRST_NAME),
                    ],
                );
                s.push_str(self.pick(EN::ADDRESS_CITY_SUFFIX));
            }
            2 => {
                s.push_str(self.pick(EN::NAME_FIRST_NAME));
                s.push_str(self.pick(EN::ADDRESS_CITY_SUFFIX));
            }
            _ => {
                s.push_str(self.pick(EN::NAME_LAST_NAME));
                s.push_str(self.pick(EN::ADDRESS_CITY_SUFFIX));
            }
        }
    }

    fn telefone(&mut self) -> String {
        let formats = match self.locale {
            Locale::En => EN_PHONE_FORMATS,
            Locale::PtBr => BR_PHONE_FORMATS,
        };
        let mut s = String::with_capacity(24);
        let format = self.pick(formats);
        self.push_pattern(&mut s, format);
        s
    }

    fn email(&mut self, first: &str, last: &str) -> String {
        // Faker's safe_email() shapes (user name from the row's own name, which reads better
        // than Faker's unrelated one), always @example.{org,com,net}.
        let mut s = String::with_capacity(32);
        match self.rng.random_range(0..5u32) {
            0 => {
                push_ascii_lower(&mut s, first);
                s.push('.');
                push_ascii_lower(&mut s, last);
            }
            1 => {
                push_ascii_lower(&mut s, last);
                s.push('.');
                push_ascii_lower(&mut s, first);
            }
            2 => {
                push_ascii_lower(&mut s, first);
                self.push_digits(&mut s, 2);
            }
            3 => {
                push_ascii_lower(
                    &mut s,
                    &first[..first.chars().next().map_or(0, char::len_utf8)],
                );
                push_ascii_lower(&mut s, last);
            }
            _ => {
                push_ascii_lower(&mut s, last);
                push_ascii_lower(&mut s, first);
            }
        }
        s.push_str(self.pick(&["@example.org", "@example.com", "@example.net"]));
        s
    }

    fn foto(&mut self) -> String {
        let mut s = String::with_capacity(40);
        let w = self.rng.random_range(1..=1024u32);
        let h = self.rng.random_range(1..=1024u32);
        match self.rng.random_range(0..3u32) {
            0 => {
                s.push_str("https://dummyimage.com/");
                push_u32(&mut s, w);
                s.push('x');
                push_u32(&mut s, h);
            }
            1 => {
                s.push_str("https://picsum.photos/");
                push_u32(&mut s, w);
                s.push('/');
                push_u32(&mut s, h);
            }
            _ => {
                s.push_str("https://placekitten.com/");
                push_u32(&mut s, w);
                s.push('/');
                push_u32(&mut s, h);
            }
        }
        s
    }

    /// Faker's `date_of_birth()` defaults: uniformly between the day after
    /// "today minus 116 years" and today, i.e. ages 0 to 115.
    fn nascimento(&mut self, today: NaiveDate) -> NaiveDate {
        let earliest = years_before(today, MAX_AGE + 1) + TimeDelta::days(1);
        let span = (today - earliest).num_days();
        earliest + TimeDelta::days(self.rng.random_range(0..=span))
    }

    fn profissao(&mut self) -> String {
        match self.locale {
            Locale::En => {
                let mut s = String::with_capacity(32);
                if self.rng.random_bool(0.6) {
                    s.push_str(self.pick(EN::JOB_SENIORITY));
                    s.push(' ');
                }
                push_words(
                    &mut s,
                    &[self.pick(EN::JOB_FIELD), self.pick(EN::JOB_POSITION)],
                );
                s
            }
            Locale::PtBr => self.pick(BR_JOBS).to_owned(),
        }
    }

    fn push_digits(&mut self, s: &mut String, count: usize) {
        for _ in 0..count {
            s.push(char::from(b'0' + self.rng.random_range(0..10u8)));
        }
    }

    /// `#` → any digit, `^` → a digit 1-9, everything else literally.
    fn push_pattern(&mut self, s: &mut String, pattern: &str) {
        for c in pattern.chars() {
            match c {
                '#' => s.push(char::from(b'0' + self.rng.random_range(0..10u8))),
                '^' => s.push(char::from(b'1' + self.rng.random_range(0..9u8))),
                other => s.push(other),
            }
        }
    }
}

/// First names of one locale and sex.
fn first_names(locale: Locale, sexo: Sexo) -> &'static [&'static str] {
    match (locale, sexo) {
        (Locale::En, Sexo::M) => EN_FIRST_NAMES_MALE,
        (Locale::En, Sexo::F) => EN_FIRST_NAMES_FEMALE,
        (Locale::PtBr, Sexo::M) => BR_FIRST_NAMES_MALE,
        (Locale::PtBr, Sexo::F) => BR_FIRST_NAMES_FEMALE,
    }
}

/// Faker's maximum age for `date_of_birth`.
const MAX_AGE: i32 = 115;

fn years_before(date: NaiveDate, years: i32) -> NaiveDate {
    let year = date.year() - years;
    // 29 February has no counterpart in most years: use 28 February then.
    NaiveDate::from_ymd_opt(year, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, date.month(), 28))
        .unwrap_or(date)
}

/// Local wall-clock time without a time-zone lookup per row: the UTC offset is read
/// once per batch (it only changes at DST transitions) and added to the fast UTC clock.
struct LocalClock {
    offset: TimeDelta,
}

impl LocalClock {
    fn read() -> Self {
        let offset = TimeDelta::seconds(i64::from(Local::now().offset().local_minus_utc()));
        Self { offset }
    }

    /// The current local time, truncated to microseconds (PostgreSQL's precision).
    fn now(&self) -> NaiveDateTime {
        let t = Utc::now().naive_utc() + self.offset;
        let micros = t.nanosecond() / 1_000 * 1_000;
        t.with_nanosecond(micros).unwrap_or(t)
    }
}

fn push_words(s: &mut String, words: &[&str]) {
    for (i, w) in words.iter().enumerate() {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(w);
    }
}

fn push_u32(s: &mut String, mut v: u32) {
    let mut buf = [0u8; 10];
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for &b in &buf[i..] {
        s.push(char::from(b));
    }
}

/// Lower-case ASCII for e-mail user names: accents are dropped (`Conceição` →
/// `conceicao`), anything else that is not alphanumeric is skipped.
fn push_ascii_lower(s: &mut String, word: &str) {
    for c in word.chars() {
        if c.is_ascii_alphanumeric() {
            s.push(c.to_ascii_lowercase());
        } else if let Some(base) = fold_accent(c) {
            s.push(base);
        }
    }
}

fn fold_accent(c: char) -> Option<char> {
    Some(match c {
        'á' | 'à' | 'â' | 'ã' | 'ä' | 'Á' | 'À' | 'Â' | 'Ã' | 'Ä' => 'a',
        'é' | 'è' | 'ê' | 'ë' | 'É' | 'È' | 'Ê' | 'Ë' => 'e',
        'í' | 'ì' | 'î' | 'ï' | 'Í' | 'Ì' | 'Î' | 'Ï' => 'i',
        'ó' | 'ò' | 'ô' | 'õ' | 'ö' | 'Ó' | 'Ò' | 'Ô' | 'Õ' | 'Ö' => 'o',
        'ú' | 'ù' | 'û' | 'ü' | 'Ú' | 'Ù' | 'Û' | 'Ü' => 'u',
        'ç' | 'Ç' => 'c',
        'ñ' | 'Ñ' => 'n',
        _ => return None,
    })
}

// ---------------------------------------------------------------- word lists

const EN_SECONDARY: &[&str] = &["Apt.", "Suite"];

/// Python Faker's en_US phone formats (`+1-475-559-2163x6531`, `902-547-6469`, ...).
const EN_PHONE_FORMATS: &[&str] = &[
    "^##-###-####",
    "(^##)###-####",
    "^##.###.####",
    "+1-^##-###-####",
    "^##-###-####x###",
    "(^##)###-####x###",
    "^##.###.####x####",
    "+1-^##-###-####x####",
    "001-^##-###-####",
    "001-^##-###-####x#####",
];

/// Python Faker's pt_BR phone formats.
const BR_PHONE_FORMATS: &[&str] = &[
    "+55 (0^#) #### ####",
    "+55 (0^#) ####-####",
    "+55 ^# #### ####",
    "+55 ^# 9#### ####",
    "(0^#) #### ####",
    "(0^#) 9####-####",
    "0^# #### ####",
    "0^# 9#### ####",
    "0300 ### ####",
    "0500-###-####",
    "0800 ### ####",
    "0900-###-####",
];

const BR_PARTICLE: &[&str] = &["da", "das", "do", "dos", "de"];
const BR_STREET_TYPE: &[&str] = &[
    "Rua", "Rua", "Rua", "Avenida", "Av.", "Travessa", "Alameda", "Praça", "Largo", "Rodovia",
    "Via", "Vila", "Estrada", "Ladeira",
];
const BR_BAIRRO: &[&str] = &[
    "Centro",
    "Jardim América",
    "Vila Nova",
    "Boa Vista",
    "Santa Cruz",
    "São José",
    "Bela Vista",
    "Santo Antônio",
    "Liberdade",
    "Copacabana",
    "Jardim Europa",
    "Vila Mariana",
    "Pinheiros",
    "Barra da Tijuca",
    "Savassi",
    "Moinhos de Vento",
    "Boa Viagem",
    "Aldeota",
    "Rio Vermelho",
    "Cidade Nova",
    "Jardim Paulista",
    "Vila Madalena",
    "Santa Efigênia",
    "Tijuca",
    "Floresta",
    "Lourdes",
    "Alto da Boa Vista",
    "Parque São Jorge",
    "Campo Grande",
    "Ponta Verde",
    "Trindade",
    "Lagoa",
    "Graças",
    "Penha",
    "Ipanema",
    "Leblon",
];
const BR_CITY_SUFFIX: &[&str] = &[
    "do Sul",
    "do Norte",
    "de Minas",
    "do Campo",
    "Grande",
    "da Serra",
    "do Oeste",
    "de Goiás",
    "Paulista",
    "da Mata",
    "Alegre",
    "da Praia",
    "das Flores",
    "das Pedras",
    "dos Dourados",
    "do Amparo",
    "do Galho",
    "da Prata",
    "Verde",
];
/// Job titles in Brazilian Portuguese (the shape of Python Faker's pt_BR `job()`).
const BR_JOBS: &[&str] = &[
    "Administrador",
    "Advogado",
    "Agente de viagens",
    "Agrônomo",
    "Analista de sistemas",
    "Analista financeiro",
    "Arquiteto",
    "Arquivista",
    "Assistente social",
    "Astrônomo",
    "Atendente",
    "Ator",
    "Auxiliar administrativo",
    "Bancário",
    "Bibliotecário",
    "Biólogo",
    "Bombeiro",
    "Cabeleireiro",
    "Carpinteiro",
    "Chefe de cozinha",
    "Cientista de dados",
    "Contador",
    "Corretor de imóveis",
    "Cozinheiro",
    "Dentista",
    "Designer gráfico",
    "Economista",
    "Eletricista",
    "Enfermeiro",
    "Engenheiro civil",
    "Engenheiro de software",
    "Engenheiro eletricista",
    "Estatístico",
    "Farmacêutico",
    "Fisioterapeuta",
    "Fonoaudiólogo",
    "Fotógrafo",
    "Garçom",
    "Geógrafo",
    "Geólogo",
    "Gerente de projetos",
    "Historiador",
    "Jardineiro",
    "Jornalista",
    "Juiz",
    "Marceneiro",
    "Mecânico",
    "Médico",
    "Médico veterinário",
    "Motorista",
    "Músico",
    "Nutricionista",
    "Oceanógrafo",
    "Padeiro",
    "Pedreiro",
    "Piloto de avião",
    "Policial",
    "Porteiro",
    "Professor de ensino fundamental",
    "Professor universitário",
    "Programador",
    "Psicólogo",
    "Publicitário",
    "Químico",
    "Recepcionista",
    "Redator",
    "Relações públicas",
    "Secretário",
    "Sociólogo",
    "Técnico de enfermagem",
    "Técnico em informática",
    "Tradutor",
    "Vendedor",
    "Zootecnista",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(locale: Locale, n: usize) -> Vec<Customer> {
        CustomerGenerator::with_seed(locale, 42).batch(n)
    }

    #[test]
    fn locale_parsing() {
        assert_eq!("en".parse::<Locale>(), Ok(Locale::En));
        assert_eq!("en_US".parse::<Locale>(), Ok(Locale::En));
        assert_eq!("pt_BR".parse::<Locale>(), Ok(Locale::PtBr));
        assert_eq!("pt-br".parse::<Locale>(), Ok(Locale::PtBr));
        assert!("de_DE".parse::<Locale>().is_err());
        assert_eq!(Locale::default(), Locale::En);
        assert_eq!(Locale::PtBr.to_string(), "pt_BR");
    }

    #[test]
    fn field_shapes_en() {
        let today = Local::now().date_naive();
        let all = rows(Locale::En, 2000);
        for c in &all {
            assert!(c.nome.contains(' ') && !c.nome.trim().is_empty(), "{c:?}");
            assert!(c.sexo == "M" || c.sexo == "F");
            let lines: Vec<&str> = c.endereco.lines().collect();
            assert_eq!(lines.len(), 2, "{c:?}");
            // "City, ST 12345"
            let last = lines[1];
            let zip = &last[last.len() - 5..];
            assert!(zip.bytes().all(|b| b.is_ascii_digit()), "{c:?}");
            assert!(last.contains(", "), "{c:?}");
            assert!(
                c.telefone.bytes().filter(u8::is_ascii_digit).count() >= 10,
                "{c:?}"
            );
            let (user, domain) = c.email.split_once('@').unwrap();
            assert!(!user.is_empty() && user.is_ascii(), "{c:?}");
            assert!(
                ["example.org", "example.com", "example.net"].contains(&domain),
                "{c:?}"
            );
            assert!(c.foto.starts_with("https://"), "{c:?}");
            let age_years = (today - c.nascimento).num_days() as f64 / 365.25;
            assert!((0.0..=116.1).contains(&age_years), "{c:?}");
            assert!(c.nascimento <= today);
            assert!(!c.profissao.is_empty());
            assert_eq!(c.dt_update.nanosecond() % 1_000, 0, "microsecond precision");
        }
        let males = all.iter().filter(|c| c.sexo == "M").count();
        assert!((850..1150).contains(&males), "sexo not 50/50: {males}/2000");
        // Several phone formats, with and without extensions.
        assert!(all.iter().any(|c| c.telefone.contains('x')));
        assert!(all.iter().any(|c| c.telefone.starts_with("+1-")));
        assert!(all.iter().any(|c| c.telefone.contains('(')));
        // Ages spread over the whole range.
        assert!(all
            .iter()
            .any(|c| (today - c.nascimento).num_days() < 365 * 10));
        assert!(all
            .iter()
            .any(|c| (today - c.nascimento).num_days() > 365 * 100));
    }

    #[test]
    fn field_shapes_pt_br() {
        let all = rows(Locale::PtBr, 1000);
        for c in &all {
            assert_eq!(c.endereco.lines().count(), 3, "{c:?}");
            let last = c.endereco.lines().last().unwrap();
            // "12345-678 Cidade / UF"
            assert_eq!(&last[5..6], "-", "{c:?}");
            assert!(PT_BR::ADDRESS_STATE_ABBR.contains(&&last[last.len() - 2..]));
            assert!(
                c.telefone.starts_with("+55")
                    || c.telefone.starts_with('(')
                    || c.telefone.starts_with('0'),
                "{c:?}"
            );
            assert!(c.email.is_ascii(), "{c:?}");
            assert!(BR_JOBS.contains(&c.profissao.as_str()));
        }
        assert!(all.iter().any(|c| c.endereco.starts_with("Rua ")));
        assert!(all.iter().any(|c| c.nome.split(' ').count() >= 3));
    }

    /// The first name after an optional title, matched on whole words.
    fn first_name_of(c: &Customer, titles: &[&str], names: &[&str]) -> bool {
        let rest = titles
            .iter()
            .find_map(|t| c.nome.strip_prefix(&format!("{t} ")))
            .unwrap_or(&c.nome);
        names
            .iter()
            .any(|n| rest.strip_prefix(n).is_some_and(|r| r.starts_with(' ')))
    }

    #[test]
    fn first_names_and_titles_follow_sexo() {
        for (locale, titles_m, titles_f) in [
            (Locale::En, EN_TITLES_MALE, EN_TITLES_FEMALE),
            (Locale::PtBr, BR_PREFIXES_MALE, BR_PREFIXES_FEMALE),
        ] {
            let males = first_names(locale, Sexo::M);
            let females = first_names(locale, Sexo::F);
            assert!(males.iter().all(|n| !females.contains(n)), "{locale}");
            for c in rows(locale, 3000) {
                let (own, own_titles, other, other_titles) = if c.sexo == "M" {
                    (males, titles_m, females, titles_f)
                } else {
                    (females, titles_f, males, titles_m)
                };
                assert!(first_name_of(&c, own_titles, own), "{locale}: {c:?}");
                assert!(!first_name_of(&c, other_titles, other), "{locale}: {c:?}");
                // "Dr." is both sexes' title in en_US; the others are one sex's.
                let title = c.nome.split(' ').next().unwrap_or("");
                if other_titles.contains(&title) && title != "Dr." {
                    panic!("{locale}: title of the other sex: {c:?}");
                }
            }
        }
    }

    #[test]
    fn dt_update_is_generation_time() {
        let before = Local::now().naive_local();
        let all = rows(Locale::En, 100);
        let after = Local::now().naive_local();
        for w in all.windows(2) {
            assert!(w[0].dt_update <= w[1].dt_update);
        }
        // Microsecond truncation may put the first row a hair before `before`.
        assert!(all[0].dt_update >= before - TimeDelta::milliseconds(1));
        assert!(all[99].dt_update <= after);
    }

    #[test]
    fn seeded_generators_repeat() {
        let a = rows(Locale::En, 5);
        let b = rows(Locale::En, 5);
        let names = |v: &[Customer]| v.iter().map(|c| c.nome.clone()).collect::<Vec<_>>();
        assert_eq!(names(&a), names(&b));
    }

    #[test]
    fn helpers() {
        let mut s = String::new();
        push_u32(&mut s, 0);
        s.push(' ');
        push_u32(&mut s, 1024);
        assert_eq!(s, "0 1024");
        let mut s = String::new();
        push_ascii_lower(&mut s, "Conceição D'Ávila");
        assert_eq!(s, "conceicaodavila");
        assert_eq!(
            years_before(NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(), 1),
            NaiveDate::from_ymd_opt(2023, 2, 28).unwrap()
        );
    }
}
