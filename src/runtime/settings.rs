//! App settings as data: a [`SettingSpec`] per setting an app reads (where it must be listed,
//! whether Azure needs it, what provides it, its format), the check that a deployed app has
//! them all ([`azure_problems`]), and [`azure_platform`], which tells `serve` it runs in Azure.

use std::fmt;

/// Where a setting must be listed for `check` (`local.settings.json.example`, the Bicep's app
/// settings, both, or neither because it is optional).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Listed {
    Both,
    ExampleOnly,
    BicepOnly,
    /// Known (not "extra" where it appears) but optional in both files.
    Optional,
}

impl Listed {
    pub fn in_example(self) -> bool {
        matches!(self, Self::Both | Self::ExampleOnly)
    }

    pub fn in_bicep(self) -> bool {
        matches!(self, Self::Both | Self::BicepOnly)
    }
}

/// What a value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Any non-blank text.
    Text,
    /// An absolute `https://` URL.
    HttpsUrl,
    /// A host name without scheme or path (`<namespace>.servicebus.windows.net`).
    HostName,
    /// A GUID (client ids).
    Guid,
    /// `true` or `false`.
    Bool,
    /// A whole number above zero (a threshold or a timeout).
    PositiveInteger,
    /// An Application Insights connection string (`InstrumentationKey=…;IngestionEndpoint=https://…`).
    AppInsightsConnectionString,
}

/// One setting the app or its bindings read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SettingSpec {
    pub name: &'static str,
    pub listed: Listed,
    /// `serve` refuses to start in Azure without it.
    pub required_in_azure: bool,
    /// Checked in Azure whenever it is set.
    pub format: Format,
    /// Where its value comes from (Bicep output, example-file entry), for error messages.
    pub provided_by: &'static str,
}

/// A setting that is missing or malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingProblem {
    pub name: &'static str,
    pub problem: String,
    pub provided_by: &'static str,
}

impl fmt::Display for SettingProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` {} (provided by {})",
            self.name, self.problem, self.provided_by
        )
    }
}

/// Checks `value` against `format`; the reason when it does not fit.
pub fn check_format(format: Format, value: &str) -> Result<(), String> {
    let value = value.trim();
    match format {
        Format::Text => Ok(()),
        Format::HttpsUrl => match reqwest::Url::parse(value) {
            Ok(url) if url.scheme() == "https" && url.host_str().is_some() => Ok(()),
            _ => Err(format!("is not an https URL: `{value}`")),
        },
        Format::HostName => {
            let valid = !value.is_empty()
                && value.contains('.')
                && value
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.');
            if valid {
                Ok(())
            } else {
                Err(format!(
                    "is not a host name (no scheme, port or path): `{value}`"
                ))
            }
        }
        Format::Guid => uuid::Uuid::try_parse(value)
            .map(|_| ())
            .map_err(|_| format!("is not a GUID: `{value}`")),
        Format::Bool => match value.to_ascii_lowercase().as_str() {
            "true" | "false" => Ok(()),
            _ => Err(format!("is not true or false: `{value}`")),
        },
        Format::PositiveInteger => match value.parse::<u64>() {
            Ok(n) if n > 0 => Ok(()),
            _ => Err(format!("is not a whole number above zero: `{value}`")),
        },
        Format::AppInsightsConnectionString => {
            let part = |name: &str| {
                value.split(';').find_map(|p| {
                    let (key, val) = p.split_once('=')?;
                    key.trim().eq_ignore_ascii_case(name).then(|| val.trim())
                })
            };
            let key = part("InstrumentationKey").filter(|k| uuid::Uuid::try_parse(k).is_ok());
            let ingestion = part("IngestionEndpoint").filter(|e| e.starts_with("https://"));
            match (key, ingestion) {
                (Some(_), Some(_)) => Ok(()),
                _ => Err(
                    "is not an Application Insights connection string (needs InstrumentationKey and an https IngestionEndpoint)"
                        .to_owned(),
                ),
            }
        }
    }
}

/// Every required setting that `get` lacks, and every set one whose value is malformed, in
/// table order. `waived` names required settings that an explicit opt-in makes optional.
pub fn azure_problems(
    specs: &[SettingSpec],
    get: impl Fn(&str) -> Option<String>,
    waived: &[&str],
) -> Vec<SettingProblem> {
    let mut problems = Vec::new();
    for spec in specs {
        let value = get(spec.name).filter(|v| !v.trim().is_empty());
        let problem = match value {
            None if spec.required_in_azure && !waived.contains(&spec.name) => {
                Some("is missing".to_owned())
            }
            None => None,
            Some(value) => check_format(spec.format, &value).err(),
        };
        if let Some(problem) = problem {
            problems.push(SettingProblem {
                name: spec.name,
                problem,
                provided_by: spec.provided_by,
            });
        }
    }
    problems
}

/// The platform variables that say the process runs in Azure, and the one Core Tools sets
/// locally. From Azure/azure-functions-host `src/WebJobs.Script/Environment/EnvironmentExtensions.cs`
/// and `EnvironmentSettingNames.cs`: `IsAppService` (`WEBSITE_INSTANCE_ID`), the site name
/// (`WEBSITE_SITE_NAME`), `IsFlexConsumptionSku` (`WEBSITE_SKU` = `FlexConsumption`, or in
/// placeholder mode a container with `LEGION_SERVICE_HOST`) and `IsCoreTools`
/// (`FUNCTIONS_CORETOOLS_ENVIRONMENT`). `CONTAINER_NAME` alone is not used: any container
/// runtime may set it.
pub const AZURE_PLATFORM_VARS: [&str; 4] = [
    "WEBSITE_INSTANCE_ID",
    "WEBSITE_SITE_NAME",
    "WEBSITE_SKU",
    "LEGION_SERVICE_HOST",
];
pub const CORE_TOOLS_VAR: &str = "FUNCTIONS_CORETOOLS_ENVIRONMENT";

/// The platform variable that shows the process runs in Azure, if any. Core Tools on a
/// developer's machine is never Azure.
pub fn azure_platform(get: impl Fn(&str) -> Option<String>) -> Option<&'static str> {
    let set = |name: &str| get(name).is_some_and(|v| !v.trim().is_empty());
    if set(CORE_TOOLS_VAR) {
        return None;
    }
    AZURE_PLATFORM_VARS.into_iter().find(|name| set(name))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SPECS: [SettingSpec; 2] = [
        SettingSpec {
            name: "A__serviceUri",
            listed: Listed::Both,
            required_in_azure: true,
            format: Format::HttpsUrl,
            provided_by: "Bicep output A",
        },
        SettingSpec {
            name: "B__ClientId",
            listed: Listed::Both,
            required_in_azure: true,
            format: Format::Guid,
            provided_by: "Bicep output B",
        },
    ];

    #[test]
    fn names_every_missing_and_malformed_setting() {
        let problems = azure_problems(&SPECS, |_| None, &[]);
        assert_eq!(
            problems.iter().map(|p| p.name).collect::<Vec<_>>(),
            ["A__serviceUri", "B__ClientId"]
        );
        assert!(problems[0].to_string().contains("Bicep output A"));
        let problems = azure_problems(
            &SPECS,
            |name| {
                Some(
                    if name.starts_with('A') {
                        "http://x"
                    } else {
                        "nope"
                    }
                    .to_owned(),
                )
            },
            &[],
        );
        assert!(problems[0].problem.contains("https"), "{problems:?}");
        assert!(problems[1].problem.contains("GUID"), "{problems:?}");
        assert!(azure_problems(&SPECS[..1], |_| None, &["A__serviceUri"]).is_empty());
    }

    #[test]
    fn formats() {
        assert!(check_format(Format::HostName, "ns.servicebus.windows.net").is_ok());
        assert!(check_format(Format::HostName, "sb://ns.servicebus.windows.net/").is_err());
        assert!(check_format(Format::Bool, "TRUE").is_ok());
        assert!(check_format(Format::PositiveInteger, "300").is_ok());
        assert!(check_format(Format::PositiveInteger, "0").is_err());
        assert!(check_format(Format::PositiveInteger, "5m").is_err());
        let good = "InstrumentationKey=00000000-0000-0000-0000-000000000001;IngestionEndpoint=https://x.in.applicationinsights.azure.com/";
        assert!(check_format(Format::AppInsightsConnectionString, good).is_ok());
        assert!(check_format(Format::AppInsightsConnectionString, "InstrumentationKey=x").is_err());
    }

    #[test]
    fn azure_is_recognised_by_platform_variables_but_never_under_core_tools() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| (*v).to_owned())
            }
        };
        assert_eq!(azure_platform(env(&[])), None);
        assert_eq!(azure_platform(env(&[("CONTAINER_NAME", "devbox")])), None);
        assert_eq!(
            azure_platform(env(&[("WEBSITE_SKU", "FlexConsumption")])),
            Some("WEBSITE_SKU")
        );
        assert_eq!(
            azure_platform(env(&[("WEBSITE_INSTANCE_ID", "abc")])),
            Some("WEBSITE_INSTANCE_ID")
        );
        assert_eq!(
            azure_platform(env(&[
                ("WEBSITE_INSTANCE_ID", "abc"),
                (CORE_TOOLS_VAR, "true")
            ])),
            None
        );
    }
}
