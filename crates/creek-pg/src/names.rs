//! First names by sex, and the titles that go with them, for the fake customers.
//!
//! The `fake` crate's first-name lists mix women's and men's names, so a row could
//! read "Amanda Smith, M". These lists follow Python Faker's split
//! (`first_names_female` / `first_names_male`, `prefixes_*`, `suffixes_*`): common
//! names of each locale, so `nome` agrees with `sexo`.

/// The `sexo` column: `"M"` or `"F"`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sexo {
    M,
    F,
}

impl Sexo {
    pub(crate) fn code(self) -> &'static str {
        match self {
            Sexo::M => "M",
            Sexo::F => "F",
        }
    }
}

pub(crate) const EN_FIRST_NAMES_MALE: &[&str] = &[
    "James", "John", "Robert", "Michael", "William", "David", "Richard", "Joseph", "Thomas",
    "Charles", "Christopher", "Daniel", "Matthew", "Anthony", "Mark", "Donald", "Steven", "Paul",
    "Andrew", "Joshua", "Kenneth", "Kevin", "Brian", "George", "Timothy", "Ronald", "Edward",
    "Jason", "Jeffrey", "Ryan", "Jacob", "Gary", "Nicholas", "Eric", "Jonathan", "Stephen",
    "Larry", "Justin", "Scott", "Brandon", "Benjamin", "Samuel", "Gregory", "Alexander", "Frank",
    "Patrick", "Raymond", "Jack", "Dennis", "Jerry", "Tyler", "Aaron", "Jose", "Adam", "Nathan",
    "Henry", "Douglas", "Zachary", "Peter", "Kyle", "Ethan", "Walter", "Noah", "Jeremy",
    "Christian", "Keith", "Roger", "Terry", "Gerald", "Harold", "Sean", "Austin", "Carl",
    "Arthur", "Lawrence", "Dylan", "Jesse", "Jordan", "Bryan", "Billy", "Joe", "Bruce", "Gabriel",
    "Logan", "Albert", "Willie", "Alan", "Juan", "Wayne", "Elijah", "Randy", "Roy", "Vincent",
    "Ralph", "Eugene", "Russell", "Bobby", "Mason", "Philip", "Louis", "Travis", "Luis", "Caleb",
    "Shawn", "Curtis", "Derek", "Victor", "Marcus", "Troy", "Calvin", "Mario", "Dustin", "Todd",
    "Cody", "Corey", "Evan", "Jared", "Trevor", "Connor", "Hunter", "Seth", "Chad", "Luke",
    "Isaac", "Colin", "Spencer", "Garrett", "Wyatt", "Owen", "Cameron", "Brett", "Grant",
];

pub(crate) const EN_FIRST_NAMES_FEMALE: &[&str] = &[
    "Mary", "Patricia", "Jennifer", "Linda", "Elizabeth", "Barbara", "Susan", "Jessica", "Sarah",
    "Karen", "Lisa", "Nancy", "Betty", "Margaret", "Sandra", "Ashley", "Kimberly", "Emily",
    "Donna", "Michelle", "Carol", "Amanda", "Dorothy", "Melissa", "Deborah", "Stephanie",
    "Rebecca", "Sharon", "Laura", "Cynthia", "Kathleen", "Amy", "Angela", "Shirley", "Anna",
    "Brenda", "Pamela", "Emma", "Nicole", "Helen", "Samantha", "Katherine", "Christine", "Debra",
    "Rachel", "Carolyn", "Janet", "Catherine", "Maria", "Heather", "Diane", "Ruth", "Julie",
    "Olivia", "Joyce", "Virginia", "Victoria", "Kelly", "Lauren", "Christina", "Joan", "Evelyn",
    "Judith", "Megan", "Andrea", "Cheryl", "Hannah", "Jacqueline", "Martha", "Gloria", "Teresa",
    "Ann", "Sara", "Madison", "Frances", "Kathryn", "Janice", "Jean", "Abigail", "Alice", "Julia",
    "Judy", "Sophia", "Grace", "Denise", "Amber", "Doris", "Marilyn", "Danielle", "Beverly",
    "Isabella", "Theresa", "Diana", "Natalie", "Brittany", "Charlotte", "Marie", "Kayla", "Alexis",
    "Lori", "Tiffany", "Erin", "Tammy", "Crystal", "Wendy", "Jill", "Holly", "Monica", "Sheila",
    "Erica", "Tracy", "Kristen", "Veronica", "Valerie", "Courtney", "Brooke", "Allison", "Vanessa",
    "Caroline", "Leah", "Chelsea", "Natasha", "Sydney", "Paige", "Jasmine", "Katie", "Claire",
];

/// Faker en_US's `prefixes_male` / `suffixes_male`.
pub(crate) const EN_TITLES_MALE: &[&str] = &["Mr.", "Dr."];
pub(crate) const EN_SUFFIXES_MALE: &[&str] =
    &["Jr.", "Sr.", "I", "II", "III", "IV", "V", "MD", "DDS", "PhD", "DVM"];
/// Faker en_US's `prefixes_female` / `suffixes_female`.
pub(crate) const EN_TITLES_FEMALE: &[&str] = &["Mrs.", "Ms.", "Miss", "Dr."];
pub(crate) const EN_SUFFIXES_FEMALE: &[&str] = &["MD", "DDS", "PhD", "DVM"];

pub(crate) const BR_FIRST_NAMES_MALE: &[&str] = &[
    "José", "João", "Antônio", "Francisco", "Carlos", "Paulo", "Pedro", "Lucas", "Luiz", "Marcos",
    "Luis", "Gabriel", "Rafael", "Daniel", "Marcelo", "Bruno", "Eduardo", "Felipe", "Raimundo",
    "Rodrigo", "Manoel", "Mateus", "André", "Fernando", "Fábio", "Leonardo", "Gustavo",
    "Guilherme", "Leandro", "Tiago", "Anderson", "Ricardo", "Márcio", "Jorge", "Alexandre",
    "Roberto", "Edson", "Diego", "Vitor", "Sérgio", "Cláudio", "Matheus", "Thiago", "Geraldo",
    "Adriano", "Luciano", "Júlio", "Renato", "Alex", "Vinícius", "Rogério", "Samuel", "Ronaldo",
    "Mário", "Flávio", "Igor", "Douglas", "Davi", "Enzo", "Miguel", "Arthur", "Heitor",
    "Bernardo", "Théo", "Lorenzo", "Benjamin", "Murilo", "Caio", "Henrique", "Otávio", "Vicente",
    "Joaquim", "Emanuel", "Cauã", "Benício", "Raul", "Nicolas", "Breno", "Erick", "Kevin",
];

pub(crate) const BR_FIRST_NAMES_FEMALE: &[&str] = &[
    "Maria", "Ana", "Francisca", "Antônia", "Adriana", "Juliana", "Márcia", "Fernanda",
    "Patrícia", "Aline", "Sandra", "Camila", "Amanda", "Bruna", "Jéssica", "Letícia", "Júlia",
    "Luciana", "Vanessa", "Mariana", "Gabriela", "Vera", "Vitória", "Larissa", "Cláudia",
    "Beatriz", "Luana", "Rita", "Sônia", "Renata", "Eliane", "Josefa", "Simone", "Natália",
    "Cristiane", "Carla", "Débora", "Rosângela", "Jaqueline", "Rosa", "Daniela", "Aparecida",
    "Marlene", "Terezinha", "Raimunda", "Andréia", "Fabiana", "Lúcia", "Raquel", "Ângela",
    "Rafaela", "Joana", "Luzia", "Elaine", "Daiane", "Regina", "Alice", "Sophia", "Helena",
    "Valentina", "Laura", "Isabella", "Manuela", "Heloísa", "Luiza", "Lorena", "Lívia",
    "Giovanna", "Maria Eduarda", "Lara", "Cecília", "Eloá", "Clara", "Mirella", "Yasmin",
    "Isadora", "Emanuelly", "Ana Clara", "Melissa", "Stella", "Esther", "Catarina", "Rebeca",
];

/// Faker pt_BR's `prefixes_male` / `prefixes_female`.
pub(crate) const BR_PREFIXES_MALE: &[&str] = &["Sr.", "Dr."];
pub(crate) const BR_PREFIXES_FEMALE: &[&str] = &["Sra.", "Srta.", "Dra."];
