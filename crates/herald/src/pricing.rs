//! The price list customers see (`prices`, `pricelist`), built from the route table.
//!
//! Routes price destinations by E.164 prefix, not by country or network, so the list says, per
//! country: the price of its calling code (the longest route covering it) and of every longer
//! route prefix inside it. Herald does not know which network a prefix belongs to, so the
//! `MCCMNC` and `Network` columns are empty.

use crate::money::Money;
use crate::number;
use crate::routing::Routes;

/// One line of the price list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceRow {
    /// ISO 3166 country code, e.g. `EE`.
    pub country: &'static str,
    /// E.164 prefix the price applies to: the calling code, or a longer route prefix.
    pub prefix: String,
    /// Per segment.
    pub price: Money,
}

/// The prices of one country, longest-lived first: its calling code, then longer prefixes.
pub fn for_country(routes: &Routes, country: &'static str, calling_code: u16) -> Vec<PriceRow> {
    let code = calling_code.to_string();
    let mut rows = Vec::new();
    let row = |prefix: &str, price: &str| {
        Money::parse(price).ok().map(|price| PriceRow {
            country,
            prefix: prefix.to_owned(),
            price,
        })
    };
    if let Some(base) = routes.route(&code) {
        rows.extend(row(&code, &base.price));
    }
    let mut longer: Vec<_> = routes
        .iter()
        .filter(|r| r.prefix.len() > code.len() && r.prefix.starts_with(&code))
        .collect();
    longer.sort_by(|a, b| a.prefix.cmp(&b.prefix));
    rows.extend(longer.into_iter().filter_map(|r| row(&r.prefix, &r.price)));
    rows
}

/// Every country some route serves.
pub fn all(routes: &Routes) -> Vec<PriceRow> {
    number::all_countries()
        .into_iter()
        .flat_map(|(country, code)| for_country(routes, country, code))
        .collect()
}

/// The CSV of `pricelist`, header included.
pub fn csv(rows: &[PriceRow]) -> String {
    let mut out = String::from("Country,Code,MCCMNC,Network,Price\n");
    for r in rows {
        out.push_str(&format!("{},{},,,{}\n", r.country, r.prefix, r.price));
    }
    out
}

/// The JSON of `prices` for one country.
pub fn json(country: &str, calling_code: u16, rows: &[PriceRow]) -> serde_json::Value {
    serde_json::json!({
        "country": country,
        "calling_code": calling_code.to_string(),
        "prices": rows
            .iter()
            .map(|r| serde_json::json!({
                "prefix": r.prefix, "mccmnc": null, "network": null, "price": r.price.to_string(),
            }))
            .collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::routing::Route;

    fn routes(list: &[(&str, &str)]) -> Routes {
        Routes::new(
            list.iter()
                .map(|(prefix, price)| Route {
                    prefix: (*prefix).into(),
                    carrier: "sim".into(),
                    price: (*price).into(),
                })
                .collect(),
        )
    }

    #[test]
    fn a_country_gets_its_calling_code_price_and_its_longer_prefixes() {
        let r = routes(&[("", "0.05"), ("372", "0.04"), ("3725", "0.03")]);
        let ee = for_country(&r, "EE", 372);
        let shown: Vec<_> = ee
            .iter()
            .map(|row| (row.prefix.as_str(), row.price.to_string()))
            .collect();
        assert_eq!(
            shown,
            vec![("372", "0.04".to_owned()), ("3725", "0.03".to_owned())]
        );
        // The catch-all route prices every other country.
        assert_eq!(for_country(&r, "FI", 358)[0].price.to_string(), "0.05");
    }

    #[test]
    fn countries_no_route_serves_are_left_out() {
        let r = routes(&[("372", "0.04"), ("44", "0.06")]);
        let countries: Vec<_> = all(&r).iter().map(|row| row.country).collect();
        assert!(countries.contains(&"EE") && countries.contains(&"GB"));
        assert!(!countries.contains(&"DE"));
    }

    #[test]
    fn the_csv_has_the_documented_header_and_one_line_per_price() {
        let r = routes(&[("372", "0.04")]);
        assert_eq!(
            csv(&all(&r)),
            "Country,Code,MCCMNC,Network,Price\nEE,372,,,0.04\n"
        );
    }
}
