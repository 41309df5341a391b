//! Which police offences count as serious violence, and in which category.
//! This is configuration, not code: definitions differ between areas and
//! change between strategies, and a published figure must say which
//! definition (and which version of it) produced it.

pub use crate::error::DefinitionError;
use serde::Deserialize;
use std::collections::HashMap;

/// One offence code of the Home Office Counting Rules.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OffenceCode {
    pub code: String,
    pub description: String,
    /// Home Office offence group (`robbery`, `violence_against_the_person`, ...).
    pub group: String,
}

/// The offence codes the pipeline knows, versioned because codes are merged
/// and split over the years.
#[derive(Debug, Clone)]
pub struct Catalogue {
    pub version: String,
    pub offences: Vec<OffenceCode>,
    index: HashMap<String, usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CatalogueFile {
    version: String,
    offence: Vec<OffenceCode>,
}

impl Catalogue {
    pub fn from_toml(text: &str) -> Result<Self, DefinitionError> {
        let f: CatalogueFile = toml::from_str(text)?;
        let index = f.offence.iter().enumerate().map(|(i, o)| (o.code.clone(), i)).collect();
        Ok(Catalogue { version: f.version, offences: f.offence, index })
    }

    pub fn builtin() -> Self {
        Self::from_toml(include_str!("../definitions/hocr.toml")).expect("built-in catalogue is valid")
    }

    pub fn get(&self, code: &str) -> Option<&OffenceCode> {
        self.index.get(code).map(|i| &self.offences[*i])
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Flag {
    Knife,
    Firearm,
}

/// How a category's codes and flags combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Combine {
    /// A listed code, or any listed flag ("possession offences and any
    /// offence flagged knife").
    #[default]
    Any,
    /// A listed code and a listed flag ("these offence types when flagged
    /// knife").
    All,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Category {
    pub id: String,
    pub label: String,
    #[serde(default)]
    pub codes: Vec<String>,
    #[serde(default)]
    pub flags: Vec<Flag>,
    #[serde(default)]
    pub combine: Combine,
    #[serde(default)]
    pub exclude_domestic: bool,
    /// data.police.uk broad crime types this category takes, for public
    /// street-level data (which has no offence codes).
    #[serde(default)]
    pub crime_types: Vec<String>,
}

/// A serious-violence definition: ordered categories, first match wins.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Definition {
    pub name: String,
    pub version: String,
    pub catalogue: String,
    pub description: String,
    #[serde(default)]
    pub asb: bool,
    #[serde(rename = "category")]
    pub categories: Vec<Category>,
    /// The file it was read from, verbatim: reports keep it so a figure can
    /// be reproduced without the file at hand.
    #[serde(skip)]
    pub source: String,
}

/// The offence facts classification looks at.
#[derive(Debug, Clone, Copy)]
pub struct OffenceFacts<'a> {
    pub code: &'a str,
    pub knife: bool,
    pub firearm: bool,
    pub domestic: bool,
}

impl Definition {
    pub fn builtin(name: &str) -> Result<Self, DefinitionError> {
        Self::from_toml(Self::builtin_text(name)?, &Catalogue::builtin())
    }

    /// The text of a built-in definition (reports keep it in their manifest).
    pub fn builtin_text(name: &str) -> Result<&'static str, DefinitionError> {
        Ok(match name {
            "local" => include_str!("../definitions/local.toml"),
            "home-office-core" => include_str!("../definitions/home-office-core.toml"),
            "police-uk-public" => include_str!("../definitions/police-uk-public.toml"),
            other => return Err(DefinitionError::Unknown(other.to_string())),
        })
    }

    pub const BUILTIN: &'static [&'static str] = &["local", "home-office-core", "police-uk-public"];

    /// Parses and checks a definition against the catalogue it names, so a
    /// typo in a code is caught when the file is loaded, not as a quietly
    /// smaller count.
    pub fn from_toml(text: &str, catalogue: &Catalogue) -> Result<Self, DefinitionError> {
        let mut d: Definition = toml::from_str(text)?;
        d.source = text.to_string();
        let invalid = |reason: String| DefinitionError::Invalid { name: d.name.clone(), reason };
        if d.catalogue != catalogue.version {
            return Err(invalid(format!("refers to catalogue {} but {} is loaded", d.catalogue, catalogue.version)));
        }
        let mut seen = std::collections::HashSet::new();
        for c in &d.categories {
            if !seen.insert(c.id.as_str()) {
                return Err(invalid(format!("category `{}` appears twice", c.id)));
            }
            if c.codes.is_empty() && c.flags.is_empty() && c.crime_types.is_empty() {
                return Err(invalid(format!("category `{}` lists no codes, flags or crime types", c.id)));
            }
            if c.combine == Combine::All && (c.codes.is_empty() || c.flags.is_empty()) {
                return Err(invalid(format!("category `{}` combines all, so it needs both codes and flags", c.id)));
            }
            if let Some(code) = c.codes.iter().find(|code| catalogue.get(code).is_none()) {
                return Err(invalid(format!("category `{}` lists code `{code}`, which is not in catalogue {}", c.id, catalogue.version)));
            }
        }
        Ok(d)
    }

    /// The category an offence falls in, or `None` when it is outside the
    /// definition.
    pub fn classify(&self, o: OffenceFacts<'_>) -> Option<&Category> {
        let c = self.categories.iter().find(|c| {
            let code = c.codes.iter().any(|code| code == o.code);
            let flag = c.flags.iter().any(|f| match f {
                Flag::Knife => o.knife,
                Flag::Firearm => o.firearm,
            });
            match c.combine {
                Combine::Any => code || flag,
                Combine::All => code && flag,
            }
        })?;
        if c.exclude_domestic && o.domestic {
            return None;
        }
        Some(c)
    }

    /// The category of a data.police.uk crime type, if the definition has one.
    pub fn classify_crime_type(&self, crime_type: &str) -> Option<&Category> {
        self.categories.iter().find(|c| c.crime_types.iter().any(|t| t == crime_type))
    }

    /// The definition as a lookup table over every catalogue code and flag
    /// combination, so SQL can classify with an equi-join and an analyst can
    /// read exactly what counts.
    pub fn lookup_rows<'a>(&'a self, catalogue: &'a Catalogue) -> Vec<LookupRow<'a>> {
        let mut rows = Vec::new();
        for o in &catalogue.offences {
            for bits in 0..8u8 {
                let (knife, firearm, domestic) = (bits & 1 != 0, bits & 2 != 0, bits & 4 != 0);
                if let Some(c) = self.classify(OffenceFacts { code: &o.code, knife, firearm, domestic }) {
                    rows.push(LookupRow { offence: o, knife, firearm, domestic, category: c });
                }
            }
        }
        rows
    }
}

pub struct LookupRow<'a> {
    pub offence: &'a OffenceCode,
    pub knife: bool,
    pub firearm: bool,
    pub domestic: bool,
    pub category: &'a Category,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(code: &str) -> OffenceFacts<'_> {
        OffenceFacts { code, knife: false, firearm: false, domestic: false }
    }

    fn id(d: &Definition, f: OffenceFacts<'_>) -> Option<String> {
        d.classify(f).map(|c| c.id.clone())
    }

    #[test]
    fn local_definition() {
        let d = Definition::builtin("local").unwrap();
        assert_eq!(id(&d, facts("1/1")).as_deref(), Some("homicide"));
        assert_eq!(id(&d, OffenceFacts { domestic: true, ..facts("1/1") }), None);
        assert_eq!(id(&d, facts("5D")).as_deref(), Some("serious_assault"));
        assert_eq!(id(&d, facts("8N")), None);
        assert_eq!(id(&d, OffenceFacts { knife: true, ..facts("8N") }).as_deref(), Some("weapon"));
        assert_eq!(id(&d, OffenceFacts { knife: true, ..facts("34B") }).as_deref(), Some("personal_robbery"));
        assert_eq!(id(&d, OffenceFacts { firearm: true, ..facts("34B") }).as_deref(), Some("firearms_discharge"));
        assert_eq!(id(&d, facts("34A")), None);
        assert_eq!(id(&d, facts("10D")).as_deref(), Some("weapon"));
        assert_eq!(id(&d, facts("56A")).as_deref(), Some("arson"));
        assert!(d.asb);
    }

    #[test]
    fn lookup_table_agrees_with_classify() {
        let cat = Catalogue::builtin();
        let d = Definition::builtin("local").unwrap();
        let rows = d.lookup_rows(&cat);
        for r in &rows {
            let f = OffenceFacts { code: &r.offence.code, knife: r.knife, firearm: r.firearm, domestic: r.domestic };
            assert_eq!(d.classify(f).map(|c| &c.id), Some(&r.category.id));
        }
        // 5 homicide codes x 4 non-domestic flag combinations.
        assert_eq!(rows.iter().filter(|r| r.category.id == "homicide").count(), 20);
    }

    #[test]
    fn home_office_core_and_public_definitions() {
        let d = Definition::builtin("home-office-core").unwrap();
        assert_eq!(id(&d, OffenceFacts { domestic: true, ..facts("1/1") }).as_deref(), Some("homicide"));
        assert_eq!(id(&d, facts("5D")), None, "serious assault without a knife is outside the core definition");
        assert_eq!(id(&d, OffenceFacts { knife: true, ..facts("5D") }).as_deref(), Some("knife_enabled"));
        assert_eq!(id(&d, OffenceFacts { knife: true, ..facts("10D") }), None, "possession is not knife-enabled violence");
        let p = Definition::builtin("police-uk-public").unwrap();
        assert_eq!(p.classify_crime_type("Robbery").map(|c| c.id.as_str()), Some("robbery"));
        assert!(p.classify_crime_type("Shoplifting").is_none());
        for name in Definition::BUILTIN {
            assert_eq!(&Definition::builtin(name).unwrap().name, name);
        }
    }

    #[test]
    fn bad_definitions_refused() {
        let cat = Catalogue::builtin();
        let text = include_str!("../definitions/local.toml").replace("\"34B\"", "\"34Z\"");
        let err = Definition::from_toml(&text, &cat).unwrap_err().to_string();
        assert!(err.contains("34Z"), "{err}");
        let text = include_str!("../definitions/local.toml").replace("asb = true", "asb = true\nbogus = 1");
        assert!(Definition::from_toml(&text, &cat).is_err());
        assert!(Definition::builtin("nope").is_err());
    }
}
